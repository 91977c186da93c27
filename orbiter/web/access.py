"""What the signed-in user may see and do, for the pages: a thin seam over the roles in
`orbiter.accounts.roles`, memoized per request (a page asks the same question many times)."""

from django.shortcuts import render

from orbiter.catalog.models import Environment

ACTIONS = (
    "view", "deploy", "pause", "resume", "cancel", "retry", "rollback",
    "approve", "reject", "lock", "unlock", "override_freeze",
)


class Access:
    """`request.access`-like helper: `can(action, environment)` answered once per pair."""

    def __init__(self, user):
        self.user = user
        self._answers: dict[tuple[str, int], bool] = {}
        self._environments: list[Environment] | None = None

    def can(self, action: str, environment: Environment) -> bool:
        from orbiter.accounts import roles

        key = (action, environment.pk)
        if key not in self._answers:
            self._answers[key] = bool(roles.can(self.user, action, environment))
        return self._answers[key]

    def require(self, action: str, environment: Environment) -> None:
        """Raise `Forbidden` (the roles module's message) unless the user may."""
        from orbiter.accounts import roles

        roles.require(self.user, action, environment)

    def role(self, environment: Environment) -> str | None:
        from orbiter.accounts import roles

        return roles.role_for(self.user, environment)

    def environments(self, action: str = "view") -> list[Environment]:
        """Environments (pipeline order) where the user may `action`."""
        if self._environments is None:
            self._environments = list(Environment.objects.order_by("order", "name"))
        return [e for e in self._environments if self.can(action, e)]

    def environment_ids(self, action: str = "view") -> list[int]:
        return [e.pk for e in self.environments(action)]


def access_for(request) -> Access:
    if not hasattr(request, "_orbiter_access"):
        request._orbiter_access = Access(request.user)
    return request._orbiter_access


def forbidden(request, message: str):
    """The 403 page: says what was refused and why; nothing was changed."""
    return render(request, "web/403.html", {"message": message}, status=403)
