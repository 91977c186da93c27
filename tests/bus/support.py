"""A fake fleet of agents on the in-memory bus: each answers with a real signed reply."""

import time

from orbiter.bus.base import REPLIES, agent_queue, bus_from_settings
from orbiter.converge.keys import signing_public_key
from orbiter_agent import protocol
from orbiter_agent.keys import (
    KeyRing,
    generate_keypair,
    load_private_key,
    parse_public_key,
    write_private_key,
)


class Agents:
    def __init__(self, tmp_path, certnames):
        self.keys = {}
        self.public = {}
        for name in certnames:
            pem, public = generate_keypair()
            path = tmp_path / f"{name}.key"
            write_private_key(path, pem)
            self.keys[name] = load_private_key(path)
            self.public[name] = public
        self.control_plane = KeyRing({protocol.CONTROL_PLANE: parse_public_key(signing_public_key().encode())})
        self.received: dict[str, list] = {name: [] for name in certnames}

    def take(self, certname):
        """Verify and return the requests waiting on an agent's queue."""
        envelopes = [
            protocol.decode_and_verify(m.body, keys=self.control_plane, now=time.time())
            for m in bus_from_settings().receive(agent_queue(certname))
        ]
        self.received[certname].extend(envelopes)
        return envelopes

    def answer(self, certname, request, result, *, signed_by=None):
        reply = protocol.make_reply(request, result, sender=certname, now=time.time())
        bus_from_settings().send(REPLIES, protocol.encode(protocol.sign(reply, self.keys[signed_by or certname])))

    def answer_all(self, result=None):
        """Every agent runs what it was asked and says so."""
        for certname in self.keys:
            for request in self.take(certname):
                self.answer(certname, request, result or {"ok": True, "kind": "changed", "exit_code": 2,
                                                          "changed": True})


def enrolled_fleet(settings, tmp_path, bus_url: str, *, hosts: int, agent_driver: bool = True) -> Agents:
    """A fleet whose hosts' agents are enrolled, the control plane's key created, and the
    bus of this process pointed at `bus_url`. Call reset_bus() when done."""
    from orbiter.bus.base import reset_bus
    from orbiter.catalog.agents import agent_enroll, enrollment_token_create
    from orbiter.catalog.models import Application
    from orbiter.converge.keys import signing_key_create
    from tests.conftest import build_fleet
    from tests.deployments.support import host

    settings.ORBITER_BUS_URL = bus_url
    settings.ORBITER_SIGNING_KEY_FILE = str(tmp_path / "control-plane.key")
    reset_bus()
    signing_key_create()
    build_fleet(hosts=hosts, defaults={"converge_timeout_s": 30})
    if agent_driver:
        Application.objects.filter(name="shop-api").update(converge_driver="agent", converge_options={})
    agents = Agents(tmp_path, [host(n) for n in range(1, hosts + 1)])
    for certname, public in agents.public.items():
        agent_enroll(certname=certname, public_key=public,
                     token=enrollment_token_create(certname=certname, actor="admin"))
    return agents
