"""Users, groups, role bindings and API tokens in Django's admin: each change is audited with
the admin's username, and no Event ever holds a password or its hash."""

import json

from django.contrib.auth.models import Group, User

from orbiter.accounts.models import ApiToken, RoleBinding
from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from orbiter.catalog import services as catalog
from tests.web.admin.support import (
    ADMIN,
    add_url,
    change_url,
    delete_url,
    events,
    field_errors,
    list_url,
)

PASSWORD = "a long and unusual passphrase 7"


def user_form(user: User, **overrides) -> dict:
    data = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "is_active": "on" if user.is_active else "", "groups": [],
            "user_permissions": []}
    data.update(overrides)
    return {name: value for name, value in data.items() if value != ""}


def mine():
    return [e for e in events() if e.actor == ADMIN]


def no_password_in(event) -> bool:
    text = json.dumps(event.data) + event.before + event.after
    hashes = [u.password for u in User.objects.all() if u.password]
    return PASSWORD not in text and not any(h in text for h in hashes) and "pbkdf2" not in text and "md5$" not in text


def test_creating_a_user_writes_an_event_without_the_password(admin_client):
    response = admin_client.post(add_url(User), {"username": "alice", "usable_password": "true",
                                                 "password1": PASSWORD, "password2": PASSWORD})

    assert response.status_code == 302
    alice = User.objects.get(username="alice")
    assert alice.check_password(PASSWORD)
    [event] = mine()
    assert (event.verb, event.object_id) == ("user.create", str(alice.pk))
    assert event.data["password"] == "set" and no_password_in(event)


def test_a_bad_username_is_refused_and_no_user_is_written(admin_client):
    response = admin_client.post(add_url(User), {"username": "al ice!", "usable_password": "true",
                                                 "password1": PASSWORD, "password2": PASSWORD})

    assert response.status_code == 200 and "username" in field_errors(response)
    assert not User.objects.filter(username__startswith="al").exists() and mine() == []


def test_changing_a_user_writes_one_event_with_what_changed(admin_client):
    alice = User.objects.create_user("alice", password=PASSWORD)
    ops = Group.objects.create(name="ops")

    response = admin_client.post(change_url(alice), user_form(alice, is_staff="on", groups=[ops.pk],
                                                              email="alice@example.test"))

    assert response.status_code == 302
    [event] = mine()
    assert (event.verb, event.object_id) == ("user.update", str(alice.pk))
    assert event.data["after"] == {"email": "alice@example.test", "groups": ["ops"], "is_staff": True}
    assert event.data["before"] == {"email": "", "groups": [], "is_staff": False}
    assert no_password_in(event)
    assert list(User.objects.get(pk=alice.pk).groups.all()) == [ops]


def test_setting_a_password_in_the_admin_is_audited_without_the_hash(admin_client):
    alice = User.objects.create_user("alice", password="the first one, long enough")

    response = admin_client.post(f"/admin/auth/user/{alice.pk}/password/",
                                 {"password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"})

    assert response.status_code == 302
    assert User.objects.get(pk=alice.pk).check_password(PASSWORD)
    [event] = mine()
    assert (event.verb, event.object_id, event.after) == ("user.password", str(alice.pk), "password set")
    assert no_password_in(event)


def test_deleting_users_one_or_many_writes_an_event_each(admin_client):
    alice, bob, carol = (User.objects.create_user(name) for name in ("alice", "bob", "carol"))

    assert admin_client.post(delete_url(alice), {"post": "yes"}).status_code == 302
    admin_client.post(list_url(User), {"action": "delete_selected", "post": "yes",
                                       "_selected_action": [bob.pk, carol.pk]})

    assert not User.objects.filter(username__in=["alice", "bob", "carol"]).exists()
    assert sorted((e.verb, e.object_id) for e in mine()) == sorted(
        ("user.delete", str(u.pk)) for u in (alice, bob, carol))
    assert all(no_password_in(e) for e in mine())


def test_a_group_change_is_audited(admin_client):
    response = admin_client.post(add_url(Group), {"name": "release-managers"})
    assert response.status_code == 302
    group = Group.objects.get(name="release-managers")

    admin_client.post(change_url(group), {"name": "releasers"})

    assert [(e.verb, e.object_id) for e in mine()] == [("group.create", str(group.pk)),
                                                        ("group.update", str(group.pk))]
    assert mine()[1].data == {"before": {"name": "release-managers"}, "after": {"name": "releasers"}}


def test_a_role_binding_for_both_a_user_and_a_group_is_refused(admin_client):
    alice = User.objects.create_user("alice")
    ops = Group.objects.create(name="ops")

    response = admin_client.post(add_url(RoleBinding), {"user": alice.pk, "group": ops.pk, "role": "admin"})

    assert response.status_code == 200 and "user" in field_errors(response)
    assert not RoleBinding.objects.exists() and mine() == []


def test_granting_and_revoking_a_role_in_the_admin_is_audited(admin_client):
    alice = User.objects.create_user("alice")
    cert = catalog.environment_create(name="cert", order=0, actor="setup")

    response = admin_client.post(add_url(RoleBinding), {"user": alice.pk, "environment": cert.pk, "role": "deployer"})
    assert response.status_code == 302
    binding = RoleBinding.objects.get()
    assert binding.created_by == ADMIN
    admin_client.post(delete_url(binding), {"post": "yes"})

    assert [e.verb for e in mine()] == ["role.grant", "role.revoke"]
    assert mine()[0].data == {"user": "alice", "group": None, "environment": "cert", "role": "deployer"}
    assert not RoleBinding.objects.exists()


def test_a_role_binding_cannot_be_edited_in_place(admin_client):
    User.objects.create_user("alice")
    binding = role_grant(role="viewer", user="alice", actor="setup")

    admin_client.post(change_url(binding), {"user": binding.user_id, "role": "admin"})

    assert RoleBinding.objects.get().role == "viewer"


def test_revoking_tokens_is_an_audited_action_and_tokens_cannot_be_edited(admin_client):
    alice = User.objects.create_user("alice")
    token, _ = token_create(user=alice, name="ci", actor="setup")

    refused = admin_client.post(change_url(token), {"name": "ci", "user": alice.pk, "max_role": "admin"})
    admin_client.post(list_url(ApiToken), {"action": "revoke", "_selected_action": [token.pk]})

    assert refused.status_code == 403
    token.refresh_from_db()
    assert token.max_role == "deployer" and token.revoked_at is not None
    [event] = mine()
    assert (event.verb, event.object_id) == ("token.revoke", str(token.pk))
