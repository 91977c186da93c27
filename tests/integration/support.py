"""What the integration tests share beyond their fixtures (tests/integration/conftest.py)."""

import time


def wait_for(condition, timeout: float, what: str, *, every: float = 0.05):
    """Poll `condition` until it returns something true (returned), or fail after `timeout`
    seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
