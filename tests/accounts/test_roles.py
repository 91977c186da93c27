"""Roles per environment: bindings on users and groups, for one environment or all, the
highest one wins; superusers are admins; the default role applies to everyone signed in."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User

from orbiter.accounts import roles
from orbiter.accounts.services import role_grant, role_revoke
from orbiter.audit.models import Event
from orbiter.catalog import services as catalog
from orbiter.common.errors import Forbidden, ValidationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def envs():
    return (catalog.environment_create(name="cert", order=0, actor="admin"),
            catalog.environment_create(name="production", order=1, actor="admin", requires_approval=True))


def fresh(user):
    return User.objects.get(pk=user.pk)  # role bindings are read once per user object


def test_a_signed_in_user_without_bindings_is_a_viewer(envs):
    alice = User.objects.create_user("alice")

    assert roles.role_for(alice, envs[0]) == roles.VIEWER
    assert roles.can(alice, "view", "production") and not roles.can(alice, "deploy", "cert")


def test_the_default_role_can_be_switched_off(envs, settings):
    settings.ORBITER_DEFAULT_ROLE = ""
    alice = User.objects.create_user("alice")

    assert roles.role_for(alice, envs[0]) is None
    assert not roles.can(alice, "view", envs[0])


def test_a_binding_holds_in_its_environment_only(envs):
    cert, production = envs
    alice = User.objects.create_user("alice")
    role_grant(role="deployer", user="alice", environment="cert", actor="root")

    alice = fresh(alice)
    assert roles.can(alice, "deploy", cert)
    assert not roles.can(alice, "deploy", production)


def test_a_binding_without_environment_holds_everywhere_and_the_highest_role_wins(envs):
    cert, production = envs
    User.objects.create_user("alice")
    role_grant(role="deployer", user="alice", actor="root")
    role_grant(role="approver", user="alice", environment="production", actor="root")

    alice = User.objects.get(username="alice")
    assert roles.role_for(alice, cert) == roles.DEPLOYER
    assert roles.role_for(alice, production) == roles.APPROVER
    assert roles.can(alice, "approve", production) and not roles.can(alice, "approve", cert)


def test_group_bindings_apply_to_members(envs):
    ops = Group.objects.create(name="ops")
    bob = User.objects.create_user("bob")
    bob.groups.add(ops)
    role_grant(role="admin", group="ops", environment="production", actor="root")

    assert roles.can(fresh(bob), "lock", envs[1])
    assert not roles.can(fresh(bob), "lock", envs[0])


def test_superusers_are_admins_everywhere_and_anonymous_users_nothing(envs):
    root = User.objects.create_superuser("root")

    assert roles.role_for(root, envs[1]) == roles.ADMIN
    assert roles.role_for(AnonymousUser(), envs[0]) is None


def test_an_inactive_user_has_no_role(envs):
    User.objects.create_user("alice", is_active=False)
    role_grant(role="admin", user="alice", actor="root")

    assert roles.role_for(User.objects.get(username="alice"), envs[0]) is None


def test_require_names_the_role_needed_and_the_role_held(envs):
    alice = User.objects.create_user("alice")

    with pytest.raises(Forbidden) as refused:
        roles.require(alice, "approve", envs[1])

    assert refused.value.message == "alice may not approve in production: needs the approver role, has viewer"
    assert refused.value.http_status == 403


def test_grants_and_revokes_are_audited_and_revoking_removes_the_role(envs):
    User.objects.create_user("alice")
    role_grant(role="deployer", user="alice", environment="cert", actor="root")
    assert role_revoke(role="deployer", user="alice", environment="cert", actor="root") == 1

    assert not roles.can(User.objects.get(username="alice"), "deploy", envs[0])
    assert list(Event.objects.filter(verb__startswith="role.").values_list("verb", "actor")) == [
        ("role.grant", "root"), ("role.revoke", "root")]


def test_it_refuses_an_unknown_role_naming_the_allowed_ones(envs):
    User.objects.create_user("alice")

    with pytest.raises(ValidationError) as refused:
        role_grant(role="owner", user="alice", actor="root")

    assert refused.value.extra == {"field": "role"}
    assert "viewer, deployer, approver, admin" in refused.value.message
