"""Converge through the node agent: a signed `puppet.run` request on the host's queue.

The request id is the engine's (host deployment, round, attempt), so a re-send after a
deadline carries the same id and the agent answers it from its stored result instead of
running Puppet twice. Replies come back through `orbiter listen`. Options: `tags` (Puppet
tags to limit the run to), `noop` (false).
"""

import time

from orbiter.bus.base import agent_queue, bus_from_settings
from orbiter.converge.base import ConvergeDriver, ConvergeRequest
from orbiter.converge.keys import signing_key
from orbiter_agent import protocol


class AgentConverge(ConvergeDriver):
    name = "agent"

    def send(self, requests: list[ConvergeRequest]) -> None:
        key = signing_key()
        bus = bus_from_settings()
        now = time.time()
        for request in requests:
            timeout = max(1, min(int(request.timeout_s), 7200))
            envelope = protocol.make_request(
                "puppet.run",
                {"noop": bool(self.options.get("noop", False)), "tags": list(self.options.get("tags", [])),
                 "timeout_s": timeout},
                target=request.certname,
                sender=protocol.CONTROL_PLANE,
                ttl_s=timeout + 300,
                now=now,
                id=request.request_id,
            )
            bus.send(agent_queue(request.certname), protocol.encode(protocol.sign(envelope, key)),
                     headers={"reply-to": "/queue/orbiter.replies"})
