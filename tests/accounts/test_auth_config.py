"""Sign-in backends switch on from environment variables; LDAP and OIDC packages are imported
only when switched on, and a half configuration is refused naming what is missing."""

import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from orbiter.accounts.auth_config import LDAP_BACKEND, MODEL_BACKEND, OIDC_BACKEND, auth_settings

OIDC = {
    "ORBITER_OIDC_CLIENT_ID": "orbiter",
    "ORBITER_OIDC_CLIENT_SECRET": "s3cret",
    "ORBITER_OIDC_AUTHORIZATION_ENDPOINT": "https://sso.example.test/auth",
    "ORBITER_OIDC_TOKEN_ENDPOINT": "https://sso.example.test/token",
    "ORBITER_OIDC_USER_ENDPOINT": "https://sso.example.test/userinfo",
    "ORBITER_OIDC_JWKS_ENDPOINT": "https://sso.example.test/certs",
}


def test_without_variables_only_django_accounts_sign_in():
    config = auth_settings({})

    assert config["AUTHENTICATION_BACKENDS"] == [MODEL_BACKEND]
    assert config["ORBITER_AUTH_METHODS"] == ["password"]
    assert not any(key.startswith(("AUTH_LDAP", "OIDC")) for key in config)


def test_oidc_switches_on_with_its_client_id():
    config = auth_settings(OIDC)

    assert config["AUTHENTICATION_BACKENDS"] == [MODEL_BACKEND, OIDC_BACKEND]
    assert config["EXTRA_INSTALLED_APPS"] == ["mozilla_django_oidc"]
    assert (config["OIDC_RP_CLIENT_ID"], config["OIDC_RP_SIGN_ALGO"]) == ("orbiter", "RS256")
    assert config["OIDC_OP_JWKS_ENDPOINT"] == "https://sso.example.test/certs"
    # Signed in by the provider: back to the dashboard, or to the sign-in page if refused.
    assert (config["LOGIN_REDIRECT_URL"], config["LOGIN_REDIRECT_URL_FAILURE"]) == ("/", "/accounts/login/")


def test_the_oidc_secret_can_come_from_a_file(tmp_path):
    secret = tmp_path / "oidc-secret"
    secret.write_text("from-file\n")
    env = {k: v for k, v in OIDC.items() if k != "ORBITER_OIDC_CLIENT_SECRET"}

    config = auth_settings({**env, "ORBITER_OIDC_CLIENT_SECRET_FILE": str(secret)})

    assert config["OIDC_RP_CLIENT_SECRET"] == "from-file"


def test_a_half_oidc_configuration_names_what_is_missing():
    with pytest.raises(ImproperlyConfigured) as refused:
        auth_settings({"ORBITER_OIDC_CLIENT_ID": "orbiter"})

    assert "ORBITER_OIDC_TOKEN_ENDPOINT" in str(refused.value)
    assert "ORBITER_OIDC_CLIENT_SECRET" in str(refused.value)


def test_ldap_switches_on_with_its_uri_before_django_accounts():
    pytest.importorskip("django_auth_ldap", reason="the optional extra orbiter[ldap] is not installed")

    config = auth_settings({
        "ORBITER_LDAP_URI": "ldaps://ldap.example.test",
        "ORBITER_LDAP_USER_SEARCH_BASE": "ou=people,dc=example,dc=test",
        "ORBITER_LDAP_GROUP_SEARCH_BASE": "ou=groups,dc=example,dc=test",
    })

    assert config["AUTHENTICATION_BACKENDS"] == [LDAP_BACKEND, MODEL_BACKEND]
    assert config["AUTH_LDAP_SERVER_URI"] == "ldaps://ldap.example.test"
    assert config["AUTH_LDAP_USER_SEARCH"].base_dn == "ou=people,dc=example,dc=test"
    assert config["AUTH_LDAP_MIRROR_GROUPS"] is True  # directory groups carry role bindings


def test_ldap_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "django_auth_ldap", None)  # as if not installed

    with pytest.raises(ImproperlyConfigured) as refused:
        auth_settings({"ORBITER_LDAP_URI": "ldaps://ldap.example.test"})

    assert "pip install 'orbiter[ldap]'" in str(refused.value)


def test_ldap_needs_a_way_to_find_users():
    pytest.importorskip("django_auth_ldap", reason="the optional extra orbiter[ldap] is not installed")

    with pytest.raises(ImproperlyConfigured, match="ORBITER_LDAP_USER_DN_TEMPLATE"):
        auth_settings({"ORBITER_LDAP_URI": "ldaps://ldap.example.test"})


def test_a_server_started_with_oidc_variables_sends_sign_in_to_the_provider(tmp_path):
    """The real settings module, in a fresh process, with the OIDC variables set."""
    import os
    import subprocess

    probe = (
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from django.test import Client\n"
        "response = Client().get('/oidc/authenticate/')\n"
        "print(response.status_code, response.get('Location', '').split('?')[0])\n"
    )
    env = {**os.environ, **OIDC, "DJANGO_SETTINGS_MODULE": "orbiter.settings", "ORBITER_MODE": "test",
           "ORBITER_DATA_DIR": str(tmp_path), "ORBITER_ALLOWED_HOSTS": "testserver"}

    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                            check=False)

    assert result.stdout.strip() == "302 https://sso.example.test/auth", result.stderr
