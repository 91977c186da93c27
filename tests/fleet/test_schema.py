"""One definition of the format: the JSON Schema the parser checks against is the one
`orbiter schema` prints, it agrees with the models and the services, and it validates the
docs' example and every fixture file."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from orbiter.fleet import schema, specs
from tests.fleet.support import EXAMPLE, FILES

pytestmark = pytest.mark.django_db


def _validator():
    document = schema.document_schema()
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_orbiter_schema_prints_the_schema_without_any_settings(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "orbiter.cli", "schema"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == schema.document_schema()


@pytest.mark.parametrize("path", [EXAMPLE, *sorted(FILES.glob("*.yaml"))], ids=lambda p: p.name)
def test_the_schema_validates_the_docs_example_and_every_fixture_file(path):
    for document in yaml.safe_load_all(path.read_text()):
        assert not list(_validator().iter_errors(document)), path


def test_the_docs_example_is_the_one_in_docs_fleet_md():
    page = (Path(EXAMPLE).parents[1] / "fleet.md").read_text()

    assert EXAMPLE.read_text().strip() in page


def test_the_constants_repeated_for_the_schema_agree_with_the_models():
    from orbiter.accounts import roles
    from orbiter.catalog.models import FreezeWindow
    from orbiter.inventory import models as inventory
    from orbiter.inventory import services as inventory_services
    from orbiter.pipelines import models as pipelines

    assert schema.DAYS == FreezeWindow.DAYS
    assert (schema.GATE_KINDS, schema.POLICIES, schema.PROMOTIONS) == (
        pipelines.GATE_KINDS, pipelines.POLICIES, pipelines.PROMOTIONS)
    assert (schema.MIN_SYNC_INTERVAL_S, schema.DEFAULT_SYNC_INTERVAL_S, schema.MAX_SYNC_INTERVAL_S) == (
        inventory.MIN_SYNC_INTERVAL_S, inventory.DEFAULT_SYNC_INTERVAL_S, inventory_services.MAX_SYNC_INTERVAL_S)
    assert schema.ROLES == roles.ROLES


def test_the_rollout_settings_are_exactly_the_strategys():
    from orbiter.deployments.strategy import Strategy

    assert set(schema.APPLICATION["properties"]["rollout"]["properties"]) == {
        f.name for f in dataclasses.fields(Strategy)}


def _catalog():
    from tests.fleet.support import apply, example

    apply(example())
    from orbiter.fleet import state

    return state.read(schema.KINDS)


def test_every_field_the_catalog_is_read_into_is_a_field_of_the_schema_and_back():
    """A field added to the format's reading of the catalog (specs.py) and not to the schema,
    or to the schema and not to the reading, fails here."""
    current = _catalog()
    for kind in schema.KINDS:
        spec, _ = next(iter(current.objects[kind].values()))
        properties = set(schema.DEFINITIONS[kind]["properties"])
        if kind == "role_bindings":
            assert set(spec) <= properties and {"role"} <= set(spec), kind
        else:
            assert set(spec) == properties, kind


def test_every_model_field_a_service_writes_is_in_the_format():
    """The services' writable fields (their *_FIELDS) all have a place in the format, so a
    field a service gains shows up here until the format carries it."""
    from orbiter.catalog import services as catalog
    from orbiter.fleet import write
    from orbiter.inventory import services as inventory
    from orbiter.loadbalancers import services as loadbalancers

    assert set(catalog.APPLICATION_FIELDS) == {"name", *write.APPLICATION_FIELDS}
    assert set(catalog.ENVIRONMENT_FIELDS) == {"name", *write.ENVIRONMENT_FIELDS}
    assert set(catalog.HOST_FIELDS) - {"healthy"} == {"certname", "environment", "applications", "labels"}
    assert set(loadbalancers.POOL_FIELDS) == {"name", "application", "environment", *write.POOL_FIELDS}
    assert set(inventory.HOSTSOURCE_FIELDS) == {"name", "environment", *write.HOST_SOURCE_FIELDS}
    assert set(specs.FREEZE_KEYS) == set(schema.FREEZE["properties"])
