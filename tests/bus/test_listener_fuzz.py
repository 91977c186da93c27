"""Fuzzing the listener's decode, validate and record path (Hypothesis): whatever arrives —
random bytes, random JSON, or random content validly signed by an enrolled host — the
listener survives, a refused message changes nothing in the database, and whatever it
does store passes the result schema."""

import base64
import json
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbiter.bus.base import REPLIES, bus_from_settings, reset_bus
from orbiter.bus.listener import ReplyListener
from orbiter.catalog.models import Host
from orbiter.deployments.models import HostDeployment
from orbiter_agent.protocol import canonical
from orbiter_agent.results import validate_result
from tests.bus.support import enrolled_fleet
from tests.deployments.support import host

pytestmark = pytest.mark.django_db(transaction=True)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=25)
texts = st.text(max_size=20) | st.text(alphabet="\x00a", min_size=1, max_size=3) | st.just("x" * 5000)
results = st.fixed_dictionaries({"ok": st.booleans() | values}, optional={
    "packages": st.dictionaries(texts, texts | st.none(), max_size=5) | values,
    "last_run": st.fixed_dictionaries({}, optional={"resources": values, "time_s": values}) | values,
    "logs": st.lists(st.dictionaries(st.sampled_from(["level", "message"]), texts), max_size=3) | values,
    "resources": st.dictionaries(st.text(max_size=10), st.integers() | values, max_size=4) | values,
    "output_tail": texts | values, "message": texts | values, "exit_code": values, "changed": values,
    "facts": values, "error": texts | values, "pong": values, "time": values,
})


@st.composite
def envelopes(draw):
    now = time.time()
    obj = {"version": draw(st.sampled_from([1, 1, 1, 2, "1"])), "id": str(uuid.uuid4()),
           "kind": draw(st.sampled_from(["reply", "report", "request", "junk"])),
           "action": draw(st.sampled_from(["facts", "puppet.run", "ping", "shell"])),
           "sender": draw(st.sampled_from([host(1), host(1), "nobody.example.test", "", "UPPER"])),
           "issued_at": now + draw(st.sampled_from([0, 0, -7200, 3600])), "expires_at": now + 600,
           "result": draw(results), "in_reply_to": draw(st.sampled_from(["d1-h1-r1-a1", "x", "d" * 200]))}
    for name in draw(st.sets(st.sampled_from(["in_reply_to", "result", "kind", "version"]), max_size=1)):
        del obj[name]
    if draw(st.booleans()):
        obj["extra"] = draw(values)
    return obj


@st.composite
def well_formed(draw):
    """An envelope any agent could sign: only its result is random."""
    now = time.time()
    kind = draw(st.sampled_from(["reply", "report"]))
    obj = {"version": 1, "id": str(uuid.uuid4()), "kind": kind, "sender": host(1), "issued_at": now,
           "expires_at": now + 600, "result": draw(results),
           "action": "facts" if kind == "report" else draw(st.sampled_from(["facts", "puppet.run", "ping"]))}
    if kind == "reply":
        obj["in_reply_to"] = "d1-h1-r1-a1"
    return obj


def body_of(draw_obj, fleet, signed: bool) -> bytes:
    if signed and draw_obj.get("sender") == host(1):
        try:
            signature = fleet.keys[host(1)].sign(canonical(draw_obj))
        except Exception:  # noqa: BLE001 - what cannot even be signed goes unsigned
            signature = b"\0" * 64
        draw_obj = {**draw_obj, "signature": base64.b64encode(signature).decode()}
    return json.dumps(draw_obj).encode()


@pytest.fixture
def fleet(settings, tmp_path):
    agents = enrolled_fleet(settings, tmp_path, "memory://", hosts=1)
    yield agents
    reset_bus()


def snapshot():
    return (list(Host.objects.order_by("pk").values_list("facts", "last_seen_at")),
            list(HostDeployment.objects.order_by("pk").values_list("outcome", "puppet", "log_tail")))


def stored_is_valid():
    for facts in Host.objects.values_list("facts", flat=True):
        if facts:
            validate_result("facts", {"ok": True, **{k: v for k, v in facts.items() if k != "reported_at"}})
            assert "\\u0000" not in json.dumps(facts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=st.data())
def test_the_listener_survives_anything_and_stores_only_what_is_valid(fleet, data):
    listener = ReplyListener(bus_from_settings())
    listener.start()
    choice = data.draw(st.sampled_from(["bytes", "json", "deep", "envelope", "signed", "well-formed"]))
    if choice == "bytes":
        body = data.draw(st.binary(max_size=300))
    elif choice == "deep":
        depth = data.draw(st.integers(1, 3000))
        body = f'{{"sender": "{host(1)}", "signature": "{"A" * 86}==", "x": {"[" * depth}{"]" * depth}}}'.encode()
    elif choice == "json":
        body = json.dumps(data.draw(values)).encode()
    elif choice == "well-formed":
        body = body_of(data.draw(well_formed()), fleet, signed=True)
    else:
        body = body_of(data.draw(envelopes()), fleet, signed=choice == "signed")
    before = snapshot()

    bus_from_settings().send(REPLIES, body)
    bus_from_settings().step()  # raises if the listener would have died

    if listener.refused:
        assert snapshot() == before
    stored_is_valid()
