"""Reads of the audit trail: every path that shows Events (the API's /events, the web's
/audit/) starts from `events_visible_to`, so a user reads no more of the trail than they may
see elsewhere."""

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from orbiter.accounts import roles
from orbiter.audit.models import Event

TOKEN = "apitoken"
# Events about these objects belong to an environment: the object's own, looked up below.
ENVIRONMENT, HOST = "environment", "host"


def events_visible_to(user) -> QuerySet[Event]:
    """The Events `user` may read.

    1. An admin of every environment (superuser, or an admin binding for all of them) reads
       everything.
    2. Anyone else reads an Event only if the environment it belongs to is one they may
       view: a deployment's events (through `deployment_id`), an environment's and a host's
       (through the object), and every event whose data names an environment (freezes,
       role bindings, refused requests, stage overrides...). Events of no environment
       (applications, builds, pipelines) are read by anyone who may view one.
    3. Events about an API token are read by the token's owner only (and by 1.).
    """
    from orbiter.accounts.models import ApiToken

    every = Event.objects.all()
    env_ids = roles.environments_where(user, "view")
    if env_ids is None and roles.includes(roles.role_for(user, None), roles.ADMIN):
        return every
    own_tokens = ApiToken.objects.filter(user_id=user.pk).annotate(key=Cast("pk", CharField())).values("key")
    tokens = Q(object_type=TOKEN) & ~Q(object_id__in=own_tokens)
    if env_ids is None:
        return every.exclude(tokens)
    return every.exclude(tokens).exclude(_outside(env_ids))


def _outside(env_ids: list[int]) -> Q:
    """Events that belong to an environment not in `env_ids`."""
    from orbiter.catalog.models import Environment, Host
    from orbiter.deployments.models import Deployment

    as_text = {"key": Cast("pk", CharField())}
    visible_deployments = Deployment.objects.filter(environment_id__in=env_ids).values("pk")
    visible_environments = Environment.objects.filter(pk__in=env_ids)
    visible_hosts = Host.objects.filter(environment_id__in=env_ids).annotate(**as_text).values("key")
    names = list(visible_environments.values_list("name", flat=True))
    return (
        (Q(deployment_id__isnull=False) & ~Q(deployment_id__in=visible_deployments))
        | (Q(object_type=ENVIRONMENT) & ~Q(object_id__in=visible_environments.annotate(**as_text).values("key")))
        | (Q(object_type=HOST) & ~Q(object_id__in=visible_hosts))
        # data.environment null (an "all environments" role binding) counts as hidden too
        | (Q(data__has_key="environment") & ~Q(data__environment__in=names))
    )
