import urllib.error
import urllib.request

from orbiter.common.errors import DriverError
from orbiter.health.base import HealthCheck


class NoHealthCheck(HealthCheck):
    name = "none"
    quick = True

    def check(self, certname: str, version: str) -> str:
        return "no health check configured"


class SimulatedHealthCheck(HealthCheck):
    """Healthy unless the host is listed in `unhealthy_hosts`."""

    name = "simulated"
    quick = True

    def check(self, certname: str, version: str) -> str:
        if certname in self.options.get("unhealthy_hosts", []):
            raise DriverError(f"{certname}: simulated health check fails")
        return "simulated health check passed"


class HttpHealthCheck(HealthCheck):
    """GET `url` ({certname} and {version} are substituted), expect `expected_status`
    (default 200) and, when set, `expected_text` (with {version} substituted) in the body."""

    name = "http"

    def check(self, certname: str, version: str) -> str:
        url = self.options["url"].format(certname=certname, version=version)
        if not url.startswith(("http://", "https://")):
            raise DriverError(f"health check url {url!r} must be http:// or https://", permanent=True)
        expected_status = int(self.options.get("expected_status", 200))
        expected_text = self.options.get("expected_text", "").format(version=version)
        timeout = float(self.options.get("timeout_s", 5))
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked)
                status, body = response.status, response.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, ""
        except (OSError, ValueError) as error:
            raise DriverError(f"GET {url}: {error}") from error
        if status != expected_status:
            raise DriverError(f"GET {url}: status {status}, expected {expected_status}")
        if expected_text and expected_text not in body:
            raise DriverError(f"GET {url}: body does not contain {expected_text!r}")
        return f"GET {url}: {status}"
