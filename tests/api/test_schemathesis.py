"""Schemathesis generates requests from /api/schema/ for every operation and sends them to the
WSGI app: no input, however odd, may make the server fail (5xx). Examples per operation are
bounded so the whole run stays well under two minutes."""

from datetime import time

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from orbiter.accounts.tokens import token_create
from orbiter.catalog import services as catalog
from orbiter.deployments import services
from orbiter.pipelines import services as pipelines
from orbiter.wsgi import application
from tests.conftest import build_fleet

pytestmark = pytest.mark.django_db


# Generating the schema reads no database, so it can be loaded when the module is collected.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.hook
def map_path_parameters(context, path_parameters):
    """Mostly ids and names that exist, so the operations run past their 404s."""
    if not path_parameters:
        return path_parameters
    generated = path_parameters.get("deployment_id")
    known = {"deployment_id": 1 + generated % 3 if isinstance(generated, int) else 1, "freeze_id": 1, "token_id": 1,
             "artifact_id": 1, "run_id": 1, "gate_run_id": 1,
             "name": "production" if len(str(path_parameters.get("name", ""))) % 2 else "cert"}
    if hash(str(path_parameters)) % 4:  # one in four keeps the generated values
        return {key: known.get(key, value) for key, value in path_parameters.items()}
    return path_parameters


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI app closes "old" database connections around each request, which on PostgreSQL
    closes the test's own transaction; Django's test client turns that off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def root_token(db, django_user_model, wsgi_in_test_transaction):
    """A superuser's token over a fleet with deployments in two states (ids 1 and 2), a freeze (id 1)
    and a pipeline cert → production (continuous delivery off)."""
    build_fleet(hosts=2, environment="cert")
    build_fleet(hosts=2, environment="production", requires_approval=True)
    services.deployment_create(application="shop-api", environment="production", version="1.1.0-1", actor="alice")
    services.deployment_create(application="shop-api", environment="cert", version="1.1.0-1", actor="alice")
    catalog.freeze_create(environment="cert", actor="alice", kind="weekly", reason="weekend", weekdays=["sun"],
                          start_time=time(0), end_time=time(0))
    pipelines.pipeline_apply(spec={"application": "shop-api", "continuous_delivery": False,
                                   "stages": [{"environment": "cert"}, {"environment": "production"}]},
                             actor="alice")
    user = django_user_model.objects.create_superuser("root")
    return token_create(user=user, name="schemathesis", actor="root", max_role="admin")[1]


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_request_makes_the_api_fail(case, root_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {root_token}"}, checks=[not_a_server_error, response_schema_conformance])
