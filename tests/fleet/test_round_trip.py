"""Export and apply are inverses: what apply wrote, export prints; applying an export again
changes nothing and records nothing."""

import pytest
import yaml

from orbiter.audit.models import Event
from orbiter.fleet import render
from orbiter.fleet.export import fleet_export
from orbiter.fleet.specs import normalized
from tests.fleet.support import apply, changed_objects, example

pytestmark = pytest.mark.django_db


def test_applying_the_docs_example_creates_every_object_it_lists():
    outcome = apply(example())

    assert outcome["applied"] is True
    assert outcome["summary"] == {"create": 10, "update": 0, "delete": 0}
    assert ("create", "pools[shop-api-staging]") in changed_objects(outcome)
    assert ("create", "role_bindings[group:shop-team/deployer/staging]") in changed_objects(outcome)


def test_export_prints_back_what_the_file_said():
    apply(example())

    exported = fleet_export()
    original = yaml.safe_load(example())
    for kind, items in original.items():
        assert [normalized(kind, item) for item in exported[kind]] == [normalized(kind, item) for item in items], kind


def test_the_export_of_a_minimal_file_is_that_file():
    text = ("environments:\n- name: staging\n  order: 1\n"
            "applications:\n- name: shop-api\n  package: shop-api\n  rollout:\n    batch_size: 25%\n")
    apply(text)

    assert render.as_yaml(fleet_export(["environments", "applications"])) == text


def test_applying_an_export_changes_nothing_and_records_no_event():
    apply(example())
    exported = render.as_yaml(fleet_export())
    events = Event.objects.count()

    outcome = apply(exported, prune=True)

    assert outcome["summary"] == {"create": 0, "update": 0, "delete": 0}
    assert outcome["changes"] == []
    assert Event.objects.count() == events


def test_applying_the_same_file_twice_changes_nothing_the_second_time():
    apply(example())

    assert apply(example())["changes"] == []
