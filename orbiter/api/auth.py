"""`Authorization: Bearer orb_…` — the API tokens of orbiter/accounts/tokens.py.

A client address that sent too many unknown, expired or revoked tokens is refused (429) for
the sign-in cool-off before its token is even looked at: see orbiter/accounts/signin.py."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from orbiter.accounts import signin
from orbiter.accounts.tokens import token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None  # not ours: the session may authenticate instead
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: give 'Bearer <token>'")
        django_request = request._request
        if signin.token_refused(django_request):
            raise exceptions.Throttled(
                wait=signin.cool_off_seconds(django_request),
                detail="too many bad API tokens from this address; try again later",
            )
        found = token_authenticate(header[1])
        if found is None:
            signin.token_failed(django_request, header[1])
            raise exceptions.AuthenticationFailed("the API token is unknown, expired or revoked")
        return found

    def authenticate_header(self, request):
        return f'{self.keyword} realm="orbiter"'  # makes DRF answer 401 (not 403) without credentials


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "an Orbiter API token (orb_…)"}
