"""Sign-in backends from environment variables: Django's own accounts always; LDAP when
ORBITER_LDAP_URI is set; OpenID Connect when ORBITER_OIDC_CLIENT_ID is set.

`auth_settings(environ)` returns the Django settings to add. It is a plain function of the
environment so tests can check the switching without a directory server, and it imports
django-auth-ldap / mozilla-django-oidc only when their backend is switched on (python-ldap
needs libldap headers to build: it is the optional extra `orbiter[ldap]`).
"""

from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
LDAP_BACKEND = "django_auth_ldap.backend.LDAPBackend"
OIDC_BACKEND = "mozilla_django_oidc.auth.OIDCAuthenticationBackend"

_GROUP_TYPES = {
    "groupOfNames": "GroupOfNamesType",
    "groupOfUniqueNames": "GroupOfUniqueNamesType",
    "posixGroup": "PosixGroupType",
    "activeDirectory": "ActiveDirectoryGroupType",
}


def auth_settings(environ: Mapping[str, str]) -> dict:
    def get(name: str, default: str = "") -> str:
        return environ.get(name, default).strip()

    def secret(name: str) -> str:
        if get(name):
            return get(name)
        if get(name + "_FILE"):
            return Path(get(name + "_FILE")).read_text().strip()
        return ""

    result: dict = {"AUTHENTICATION_BACKENDS": [MODEL_BACKEND], "ORBITER_AUTH_METHODS": ["password"],
                    "EXTRA_INSTALLED_APPS": []}
    if get("ORBITER_LDAP_URI"):
        result.update(_ldap(get, secret))
        result["AUTHENTICATION_BACKENDS"].insert(0, LDAP_BACKEND)
        result["ORBITER_AUTH_METHODS"].append("ldap")
    if get("ORBITER_OIDC_CLIENT_ID"):
        result.update(_oidc(get, secret))
        result["AUTHENTICATION_BACKENDS"].append(OIDC_BACKEND)
        result["ORBITER_AUTH_METHODS"].append("oidc")
        result["EXTRA_INSTALLED_APPS"].append("mozilla_django_oidc")
    return result


def _ldap(get, secret) -> dict:
    try:
        import ldap
        from django_auth_ldap import config
    except ImportError as error:
        raise ImproperlyConfigured(
            f"ORBITER_LDAP_URI is set but LDAP support is not installed ({error}); "
            "install it with: pip install 'orbiter[ldap]' (python-ldap needs libldap2-dev and libsasl2-dev)"
        ) from None
    out = {
        "AUTH_LDAP_SERVER_URI": get("ORBITER_LDAP_URI"),
        "AUTH_LDAP_BIND_DN": get("ORBITER_LDAP_BIND_DN"),
        "AUTH_LDAP_BIND_PASSWORD": secret("ORBITER_LDAP_BIND_PASSWORD"),
        "AUTH_LDAP_START_TLS": get("ORBITER_LDAP_START_TLS").lower() in ("1", "true", "yes", "on"),
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
    }
    if get("ORBITER_LDAP_USER_DN_TEMPLATE"):
        out["AUTH_LDAP_USER_DN_TEMPLATE"] = get("ORBITER_LDAP_USER_DN_TEMPLATE")
    elif get("ORBITER_LDAP_USER_SEARCH_BASE"):
        out["AUTH_LDAP_USER_SEARCH"] = config.LDAPSearch(
            get("ORBITER_LDAP_USER_SEARCH_BASE"), ldap.SCOPE_SUBTREE, get("ORBITER_LDAP_USER_FILTER", "(uid=%(user)s)")
        )
    else:
        raise ImproperlyConfigured(
            "ORBITER_LDAP_URI is set: also set ORBITER_LDAP_USER_DN_TEMPLATE (uid=%(user)s,ou=people,dc=example,dc=com) "
            "or ORBITER_LDAP_USER_SEARCH_BASE (ou=people,dc=example,dc=com)"
        )
    if get("ORBITER_LDAP_GROUP_SEARCH_BASE"):
        kind = get("ORBITER_LDAP_GROUP_TYPE", "groupOfNames")
        if kind not in _GROUP_TYPES:
            raise ImproperlyConfigured(
                f"ORBITER_LDAP_GROUP_TYPE={kind!r}; allowed: {', '.join(_GROUP_TYPES)}"
            )
        out["AUTH_LDAP_GROUP_SEARCH"] = config.LDAPSearch(
            get("ORBITER_LDAP_GROUP_SEARCH_BASE"), ldap.SCOPE_SUBTREE, f"(objectClass={kind})"
            if kind != "activeDirectory" else "(objectClass=group)"
        )
        out["AUTH_LDAP_GROUP_TYPE"] = getattr(config, _GROUP_TYPES[kind])()
        # Directory groups become Django groups at each sign-in, so role bindings on groups apply.
        out["AUTH_LDAP_MIRROR_GROUPS"] = True
    return out


def _oidc(get, secret) -> dict:
    try:
        import mozilla_django_oidc  # noqa: F401
    except ImportError as error:
        raise ImproperlyConfigured(
            f"ORBITER_OIDC_CLIENT_ID is set but mozilla-django-oidc is not installed ({error})"
        ) from None
    required = ["ORBITER_OIDC_AUTHORIZATION_ENDPOINT", "ORBITER_OIDC_TOKEN_ENDPOINT", "ORBITER_OIDC_USER_ENDPOINT"]
    algorithm = get("ORBITER_OIDC_SIGN_ALGO", "RS256")
    if algorithm.startswith(("RS", "ES")):
        required.append("ORBITER_OIDC_JWKS_ENDPOINT")
    missing = [name for name in required if not get(name)]
    if not secret("ORBITER_OIDC_CLIENT_SECRET"):
        missing.append("ORBITER_OIDC_CLIENT_SECRET (or ORBITER_OIDC_CLIENT_SECRET_FILE)")
    if missing:
        raise ImproperlyConfigured(f"ORBITER_OIDC_CLIENT_ID is set: also set {', '.join(missing)}")
    return {
        "OIDC_RP_CLIENT_ID": get("ORBITER_OIDC_CLIENT_ID"),
        "OIDC_RP_CLIENT_SECRET": secret("ORBITER_OIDC_CLIENT_SECRET"),
        "OIDC_OP_AUTHORIZATION_ENDPOINT": get("ORBITER_OIDC_AUTHORIZATION_ENDPOINT"),
        "OIDC_OP_TOKEN_ENDPOINT": get("ORBITER_OIDC_TOKEN_ENDPOINT"),
        "OIDC_OP_USER_ENDPOINT": get("ORBITER_OIDC_USER_ENDPOINT"),
        "OIDC_OP_JWKS_ENDPOINT": get("ORBITER_OIDC_JWKS_ENDPOINT"),
        "OIDC_RP_SIGN_ALGO": algorithm,
        "OIDC_RP_SCOPES": get("ORBITER_OIDC_SCOPES", "openid email profile"),
        # Where the provider's callback lands when the sign-in did not start from a page
        # (Django's default, /accounts/profile/, is no page here), and after a refusal.
        "LOGIN_REDIRECT_URL": "/",
        "LOGIN_REDIRECT_URL_FAILURE": "/accounts/login/",
    }
