"""The promotion guard: an artifact may not reach a stage without passing the stages before
it, unless an admin overrides (recorded)."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from orbiter.common.errors import ValidationError
from orbiter.pipelines import services, states
from orbiter.pipelines.selectors import stage_refusal
from tests.pipelines.support import artifact, define, fleet, publish, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _refusal(version: str, environment: str) -> str | None:
    return stage_refusal(Application.objects.get(name="shop-api"), Environment.objects.get(name=environment),
                         artifact(version))


def test_an_artifact_that_skipped_a_stage_is_refused_naming_it(flow):
    fleet()
    define(cd=False)
    publish("1.2.0-1")
    assert _refusal("1.2.0-1", "cert") is None  # the first stage is open to anything
    assert _refusal("1.2.0-1", "test") == "1.2.0-1 has not passed stage cert"
    assert _refusal("1.2.0-1", "production") == "1.2.0-1 has not passed stage cert (nor test)"


def test_an_artifact_that_passed_the_earlier_stages_may_go_on(flow):
    fleet()
    define(stages=[{"environment": "cert"}, {"environment": "test"}, {"environment": "production",
                                                                      "promotion": "approval"}])
    publish("1.2.0-1")
    wait_for(flow, "1.2.0-1", states.AWAITING_APPROVAL)
    assert _refusal("1.2.0-1", "production") is None


def test_an_admin_override_lets_it_through_and_is_recorded(flow):
    fleet()
    define(cd=False)
    publish("1.2.0-1")
    services.stage_override_grant(artifact=artifact("1.2.0-1"), environment="production", actor="root",
                                  reason="hotfix for incident 4711")
    assert _refusal("1.2.0-1", "production") is None
    assert _refusal("1.2.0-1", "test") == "1.2.0-1 has not passed stage cert"  # only where it was granted
    event = Event.objects.get(verb="pipeline.stage_override")
    assert (event.actor, event.data["environment"], event.data["reason"]) == ("root", "production",
                                                                               "hotfix for incident 4711")


def test_an_override_needs_a_reason(flow):
    fleet()
    define(cd=False)
    publish("1.2.0-1")
    with pytest.raises(ValidationError, match="reason: say why the stages are skipped"):
        services.stage_override_grant(artifact=artifact("1.2.0-1"), environment="production", actor="root",
                                      reason=" ")
    assert _refusal("1.2.0-1", "production") is not None


def test_environments_outside_the_pipeline_are_not_guarded(flow):
    fleet()
    define(stages=[{"environment": "cert"}, {"environment": "test"}])
    publish("1.2.0-1")
    assert _refusal("1.2.0-1", "production") is None
