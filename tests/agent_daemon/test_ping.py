"""A ping goes to the agent signed by the control plane and comes back signed by the agent."""

import pytest

pytestmark = pytest.mark.integration


def test_it_answers_a_ping_signed_by_its_own_key(host, control_plane):
    request = control_plane.request("ping", target=host)
    control_plane.send(host, control_plane.signed(host, request))

    [(headers, _, reply)] = control_plane.replies_to(host, request)

    assert reply.sender == host.certname  # verified against the agent's public key
    assert reply.in_reply_to == request.id
    assert reply.result["ok"] is True and reply.result["pong"] == host.certname
    assert headers["persistent"] == "true"  # the reply survives a broker restart


def test_it_answers_a_broadcast_ping(host, control_plane):
    request = control_plane.request("ping", target="*")
    control_plane.send(host, control_plane.signed(host, request), "/topic/orbiter.all")

    [(_, _, reply)] = control_plane.replies_to(host, request)

    assert reply.result["pong"] == host.certname
