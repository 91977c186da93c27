"""An agent remembers what it received across restarts, and never runs a request twice."""

import os
import stat

import pytest

from orbiter_agent.protocol import Code, ProtocolError, ReplayStore, decode_and_verify, make_reply
from tests.agent.support import NOW


def test_it_remembers_ids_and_replies_after_a_restart(tmp_path):
    with ReplayStore(tmp_path, clock=lambda: NOW) as store:
        store.remember("req-1", NOW + 300, b'{"kind":"reply"}')
        store.remember("req-2", NOW + 300, None)

    with ReplayStore(tmp_path, clock=lambda: NOW) as reopened:
        assert reopened.seen("req-1") and reopened.seen("req-2")
        assert reopened.stored_reply("req-1") == b'{"kind":"reply"}'
        assert reopened.stored_reply("req-2") is None
        assert not reopened.seen("req-3")
        assert reopened.stored_reply("req-3") is None


def test_a_redelivered_request_is_answered_from_the_stored_reply_after_a_restart(
    control_plane, agent, agent_keys, tmp_path
):
    data = control_plane.send(control_plane.puppet_run())
    with ReplayStore(tmp_path, clock=lambda: NOW) as store:
        request = decode_and_verify(data, keys=agent_keys, now=NOW, seen=store)
        store.remember(request.id, request.expires_at, None)  # before running it
        reply = agent.send(
            make_reply(request, {"ok": True, "exit_code": 0}, sender=agent.name, now=NOW + 30)
        )
        store.remember(request.id, request.expires_at, reply)

    with ReplayStore(tmp_path, clock=lambda: NOW) as restarted:
        with pytest.raises(ProtocolError) as refused:
            decode_and_verify(data, keys=agent_keys, now=NOW + 60, seen=restarted)
        assert refused.value.code == Code.REPLAY
        assert restarted.stored_reply(refused.value.envelope.id) == reply


def test_a_request_interrupted_mid_run_is_not_run_again(control_plane, agent_keys, tmp_path):
    data = control_plane.send(control_plane.puppet_run())
    with ReplayStore(tmp_path, clock=lambda: NOW) as store:
        request = decode_and_verify(data, keys=agent_keys, now=NOW, seen=store)
        store.remember(request.id, request.expires_at, None)
        # the agent dies here, during the Puppet run

    with ReplayStore(tmp_path, clock=lambda: NOW) as restarted:
        with pytest.raises(ProtocolError) as refused:
            decode_and_verify(data, keys=agent_keys, now=NOW + 60, seen=restarted)
        assert refused.value.code == Code.REPLAY
        assert restarted.stored_reply(request.id) is None


def test_remembering_again_adds_a_reply_but_never_removes_one(tmp_path):
    with ReplayStore(tmp_path, clock=lambda: NOW) as store:
        store.remember("req-1", NOW + 300, None)
        store.remember("req-1", NOW + 300, b"reply")
        store.remember("req-1", NOW + 300, None)

        assert store.stored_reply("req-1") == b"reply"
        assert len(store) == 1


def test_it_forgets_ids_an_hour_after_they_expired(tmp_path):
    clock = [NOW]
    with ReplayStore(tmp_path, clock=lambda: clock[0]) as store:
        store.remember("old", NOW + 300, b"reply")
        store.remember("recent", NOW + 3000, None)

        assert store.prune(now=NOW + 300 + 3600) == 0
        clock[0] = NOW + 300 + 3601
        store.remember("new", clock[0] + 300, None)

        assert not store.seen("old")
        assert store.seen("recent") and store.seen("new")


def test_its_file_is_for_the_agent_alone(tmp_path):
    state = tmp_path / "state"
    with ReplayStore(state) as store:
        store.remember("req-1", NOW, b"facts")

    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.path.name == "replay.sqlite3"
