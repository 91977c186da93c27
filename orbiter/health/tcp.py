"""TCP health check: the host accepts a connection on the application's port.

Options:
  port           required, 1-65535: the application's port
  host           optional: the address to dial (name or IP); default the host's certname.
                 `{certname}` is substituted, e.g. "{certname}.backend.example"
  timeout_s      per try, default 5 (above 0, at most 60)
  retries        tries after the first, default 2 (0-10)
  retry_delay_s  between tries, default 0.5 (0-10)

The connection is closed as soon as it is established; nothing is sent. Refused, timed
out or unresolvable is transient (the engine retries the step).
"""

import re
import socket

from orbiter.common.errors import DriverError
from orbiter.health.base import HealthCheck, attempts

# A DNS name or IPv4 address, or an IPv6 address (letters, digits, '.', '-', ':'), with
# {certname} allowed: what `host` may be.
_HOST = re.compile(r"^(\{certname\}|[A-Za-z0-9.:-])+$")


class TcpHealthCheck(HealthCheck):
    name = "tcp"
    options_allowed = ("host", "port", "timeout_s", "retries", "retry_delay_s")

    def __init__(self, options: dict):
        super().__init__(options)
        self.port = self.integer("port", None, low=1, high=65535)
        host = options.get("host", "{certname}")
        if not isinstance(host, str) or not _HOST.match(host) or len(host) > 253:
            raise self.invalid("host", f"must be a host name or IP address (optionally with {{certname}}), not {host!r}")
        self.host = host
        self.timeout_s, self.retries, self.retry_delay_s = self.retry_options()

    def check(self, certname: str, version: str) -> str:
        host = self.host.replace("{certname}", certname)
        return attempts(lambda: self._probe(host), retries=self.retries, delay_s=self.retry_delay_s)

    def _probe(self, host: str) -> str:
        where = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        try:
            with socket.create_connection((host, self.port), timeout=self.timeout_s):
                pass
        except TimeoutError:
            raise DriverError(f"TCP {where}: no answer within {self.timeout_s:g}s") from None
        except OSError as error:
            raise DriverError(f"TCP {where}: {error.strerror or error}") from None
        return f"TCP {where}: connection accepted"
