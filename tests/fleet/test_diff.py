"""`--diff` says what would change, object by object and field by field, and changes nothing."""

import pytest

from orbiter.audit.models import Event
from orbiter.catalog.models import Application, Environment
from orbiter.fleet import render
from tests.fleet.support import apply, changed_objects

pytestmark = pytest.mark.django_db

BASE = """
environments:
  - name: staging
    order: 1
applications:
  - name: shop-api
    package: shop-api
    rollout: {batch_size: "1"}
"""


def test_a_dry_run_lists_the_creates_and_writes_nothing():
    outcome = apply(BASE, dry_run=True)

    assert outcome["applied"] is False
    assert changed_objects(outcome) == [("create", "environments[staging]"), ("create", "applications[shop-api]")]
    assert not Environment.objects.exists() and not Application.objects.exists()
    assert not Event.objects.exists()


def test_an_update_shows_each_changed_field_before_and_after():
    apply(BASE)

    outcome = apply(BASE.replace('batch_size: "1"', 'batch_size: 25%, canary: true').replace(
        "order: 1", "order: 1\n    requires_approval: true"), dry_run=True)

    assert outcome["changes"] == [
        {"kind": "environments", "name": "staging", "action": "update", "source": "fleet.yaml", "document": 1,
         "fields": [{"path": "requires_approval", "before": False, "after": True}]},
        {"kind": "applications", "name": "shop-api", "action": "update", "source": "fleet.yaml", "document": 1,
         "fields": [{"path": "rollout.batch_size", "before": "1", "after": "25%"},
                    {"path": "rollout.canary", "before": None, "after": True}]},
    ]
    assert Application.objects.get().rollout_defaults == {"batch_size": "1"}


def test_the_diff_reads_as_text_with_signs_and_arrows():
    apply(BASE)
    outcome = apply(BASE.replace('batch_size: "1"', 'batch_size: 25%') + "  - name: cart\n    package: cart\n",
                    dry_run=True)

    assert render.diff_lines(outcome) == [
        "~ applications[shop-api]",
        '    rollout.batch_size: "1" → "25%"',
        "+ applications[cart]",
        '    name: "cart"',
        '    package: "cart"',
        "1 to create, 1 to update, 0 to delete (dry run: nothing changed)",
    ]


def test_without_prune_an_object_missing_from_the_files_is_left_alone():
    apply(BASE)

    outcome = apply("environments: [{name: staging, order: 1}]\napplications: []\n", dry_run=True)

    assert outcome["changes"] == []
    assert Application.objects.filter(name="shop-api").exists()


def test_a_field_left_out_means_its_default():
    apply(BASE.replace("order: 1", "order: 1\n    requires_approval: true\n    min_approvals: 3"))

    outcome = apply(BASE, dry_run=True)

    assert outcome["changes"][0]["fields"] == [{"path": "requires_approval", "before": True, "after": False},
                                               {"path": "min_approvals", "before": 3, "after": 1}]
