"""Every lookup from a request goes through these: they find the object (404 in the one
error shape when missing) and check the caller's role for the action (403)."""

from orbiter.accounts import roles
from orbiter.catalog.models import Application, Artifact, Environment
from orbiter.common.errors import Forbidden, NotFound
from orbiter.deployments.models import Deployment
from orbiter.pipelines.models import PipelineRun


def actor(request) -> str:
    """The name Events record: the user (an API token acts as its user)."""
    return request.user.get_username()


def environment(request, name: str, action: str = "view") -> Environment:
    env = Environment.objects.filter(name=name).first()
    if env is None:
        raise NotFound(f"environment {name!r} does not exist", field="environment")
    roles.require(request.user, action, env)
    return env


def requested_environment(request, name: str, action: str, *, application: str | None = None) -> Environment | None:
    """The environment a request names, once the caller's role for `action` there is checked
    (403). An unknown name is left for the preflight to refuse (naming the environments the
    caller may see), but only for a caller who may `action` somewhere: anyone else is
    refused first, learns no environment's name and leaves no refusal in the audit trail."""
    env = Environment.objects.filter(name=name).first()
    if env is not None:
        roles.require(request.user, action, env, application=application)
        return env
    if roles.environments_where(request.user, action) == []:
        raise Forbidden(f"{actor(request)} may not {action} in any environment", action=action)
    return None


def application(request, name: str) -> Application:
    app = Application.objects.filter(name=name).first()
    if app is None:
        raise NotFound(f"application {name!r} does not exist", field="application")
    if not roles.can_somewhere(request.user, "view", application=app):
        roles.require(request.user, "view", None, application=app)  # raises the clear 403
    return app


def deployment(request, deployment_id: int, action: str = "view") -> Deployment:
    found = (
        Deployment.objects.select_related("application", "environment", "artifact")
        .filter(pk=deployment_id)
        .first()
    )
    if found is None:
        raise NotFound(f"deployment #{deployment_id} does not exist")
    roles.require(request.user, action, found.environment, application=found.application)
    return found


def visible_environment_ids(request) -> list[int] | None:
    """Environments the caller may view; None: all."""
    return roles.environments_where(request.user, "view")


def scoped_application_ids(request) -> frozenset[int] | None:
    """The applications an API token is limited to; None: no limit."""
    token = getattr(request.user, roles.TOKEN_ATTRIBUTE, None)
    return token.application_ids if token is not None and token.application_ids else None


def limit(queryset, request, *, environment_field: str | None = "environment_id",
          application_field: str | None = "application_id"):
    """Narrow a queryset to what the caller may view."""
    env_ids = visible_environment_ids(request)
    if environment_field and env_ids is not None:
        queryset = queryset.filter(**{f"{environment_field}__in": env_ids})
    app_ids = scoped_application_ids(request)
    if application_field and app_ids is not None:
        queryset = queryset.filter(**{f"{application_field}__in": app_ids})
    return queryset


def artifact(request, artifact_id: int) -> Artifact:
    """A build, for a caller who may view its application somewhere."""
    found = Artifact.objects.select_related("application").filter(pk=artifact_id).first()
    if found is None:
        raise NotFound(f"artifact #{artifact_id} does not exist")
    application(request, found.application.name)
    return found


def pipeline_run(request, run_id: int) -> PipelineRun:
    found = (PipelineRun.objects.select_related("artifact", "pipeline__application").filter(pk=run_id).first())
    if found is None:
        raise NotFound(f"pipeline run #{run_id} does not exist")
    application(request, found.pipeline.application.name)
    return found


def require_role(request, role: str, environment: Environment, *, doing: str, application=None) -> None:
    """Like roles.require for an operation the roles table does not name (e.g. a stage override:
    admin): 403 naming what was refused, the role needed and the role held."""
    held = roles.role_for(request.user, environment, application=application)
    if roles.includes(held, role):
        return
    raise Forbidden(f"{actor(request)} may not {doing} in {environment.name}: needs the {role} role, "
                    + (f"has {held}" if held else "has no role there"),
                    environment=environment.name, needed=role, role=held)


def environment_names(environment_ids) -> list[str]:
    return list(Environment.objects.filter(pk__in=environment_ids).values_list("name", flat=True))


def application_names(application_ids) -> list[str]:
    return list(Application.objects.filter(pk__in=application_ids).values_list("name", flat=True))
