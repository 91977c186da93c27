"""--wait's watch through a server outage, with a stand-in API (the real web is stopped and
started in tests/integration/test_wait_through_outage.py): which failures it rides out,
which stop it at once, and its limit."""

import io

import pytest

from orbiter.client import watch
from orbiter.client.errors import OK, UNREACHABLE, USAGE, ClientError
from orbiter.client.render import Out

DONE = {"id": 7, "status": "succeeded", "application": "shop-api", "version": "1.1.0-1", "environment": "cert",
        "batches": 1, "current_batch": 1, "progress": {"done": 1, "total": 1}, "message": "succeeded"}


class Api:
    """Answers GET deployments/7 (and its hosts and events) after failing `failures` times."""

    def __init__(self, failures: list[ClientError]):
        self.failures, self.calls = list(failures), 0

    def get(self, path, **params):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"results": []} if path.endswith(("/events", "/hosts")) else DONE

    def pages(self, path, *, limit, **params):
        return iter(())


def follow(api, sleeps=None):
    out = Out(io.StringIO(), io.StringIO(), color=False)
    code = watch.follow(api, 7, out, timeout=None, sleep=(sleeps if sleeps is not None else []).append)
    return code, out.stdout.getvalue(), out.stderr.getvalue()


def refused():
    return ClientError("cannot reach https://orbiter.example.com: Connection refused", UNREACHABLE, transient=True)


def test_it_rides_out_a_refused_connection_and_a_502_then_follows_to_the_end():
    sleeps = []
    bad_gateway = ClientError("… answered 502 Bad Gateway", UNREACHABLE, transient=True)

    code, out, err = follow(Api([refused(), bad_gateway]), sleeps)

    assert code == OK and "succeeded" in out
    assert sleeps == [1.0, 2.0]  # backoff
    assert err.count("lost contact with the server") == 1 and "back in contact with the server" in err


def test_an_authentication_failure_is_not_an_outage_and_stops_at_once():
    api = Api([ClientError("authentication failed at https://orbiter.example.com", UNREACHABLE)])

    with pytest.raises(ClientError, match="authentication failed"):
        follow(api)
    assert api.calls == 1


def test_past_its_limit_it_stops_saying_the_deployment_carries_on_and_how_to_watch_again(monkeypatch):
    monkeypatch.setenv("ORBITER_WAIT_OUTAGE_SECONDS", "0")

    code, _, err = follow(Api([refused()] * 3))

    assert code == UNREACHABLE
    assert "stopped watching: the server has been unreachable" in err
    assert "Deployment #7 (last seen: unknown) carries on on the server" in err
    assert "watch it again with: orbiter status 7 --wait" in err


@pytest.mark.parametrize("value", ["soon", "-5"])
def test_a_bad_outage_limit_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("ORBITER_WAIT_OUTAGE_SECONDS", value)

    with pytest.raises(ClientError) as refused_:
        follow(Api([]))
    assert refused_.value.exit_code == USAGE and "ORBITER_WAIT_OUTAGE_SECONDS" in refused_.value.message
