"""What apply does with the kinds that are more than fields: role bindings (users must exist,
groups are created), pipelines (pruned with their finished runs), freezes (replaced)."""

import pytest
from django.contrib.auth.models import Group, User

from orbiter.accounts.models import RoleBinding
from orbiter.audit.models import Event
from orbiter.catalog.models import FreezeWindow
from orbiter.pipelines.models import Pipeline
from tests.fleet.support import apply, changed_objects

pytestmark = pytest.mark.django_db

BASE = """
environments: [{name: staging, order: 1}, {name: production, order: 2}]
applications: [{name: shop-api, package: shop-api}]
"""


def test_a_binding_for_a_group_not_seen_yet_creates_the_group_and_says_so():
    User.objects.create_user("ada")

    apply(BASE + "role_bindings:\n  - {group: release-managers, role: approver, environment: production}\n"
                 "  - {user: ada, role: admin}\n")

    assert Group.objects.filter(name="release-managers").exists()
    assert Event.objects.filter(verb="group.create").count() == 1
    assert sorted(str(b) for b in RoleBinding.objects.all()) == [
        "group release-managers: approver in production", "user ada: admin in all environments"]


def test_a_binding_removed_from_the_file_is_revoked_with_prune_only():
    User.objects.create_user("ada")
    apply(BASE + "role_bindings: [{user: ada, role: admin}]\n")

    assert apply(BASE + "role_bindings: []\n")["changes"] == []
    outcome = apply(BASE + "role_bindings: []\n", prune=True)

    assert changed_objects(outcome) == [("delete", "role_bindings[user:ada/admin/*]")]
    assert not RoleBinding.objects.exists() and Event.objects.filter(verb="role.revoke").count() == 1


def test_a_pipeline_no_longer_listed_is_deleted_by_prune():
    apply(BASE + "pipelines: [{application: shop-api, stages: [{environment: staging}, {environment: production}]}]\n")

    outcome = apply(BASE + "pipelines: []\n", prune=True)

    assert changed_objects(outcome) == [("delete", "pipelines[shop-api]")]
    assert not Pipeline.objects.exists() and Event.objects.filter(verb="pipeline.delete").count() == 1


def test_a_changed_weekly_freeze_replaces_the_old_window():
    freeze = "{days: [fri], start: '18:00', end: '08:00', reason: weekend}"
    apply(f"environments: [{{name: production, freezes: [{freeze}]}}]")

    outcome = apply(f"environments: [{{name: production, freezes: [{freeze.replace('18:00', '16:00')}]}}]")

    assert outcome["changes"][0]["fields"][0]["path"] == "freezes"
    [window] = FreezeWindow.objects.all()
    assert f"{window.start_time:%H:%M}" == "16:00"
    assert [e.verb for e in Event.objects.filter(verb__startswith="freeze").order_by("id")] == [
        "freeze.create", "freeze.delete", "freeze.create"]
