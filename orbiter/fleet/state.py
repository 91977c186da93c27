"""The catalog as the fleet format sees it, read once: a few queries per kind, never one per
object. A host from a host source is not a Host here (it belongs to its source), nor is a
pool member whose host came from one; one-off freeze windows and locks are operations."""

from dataclasses import dataclass, field

from django.db.models import Prefetch

from orbiter.fleet import specs


@dataclass
class Current:
    """kind -> {identity: (spec, model object)}."""

    objects: dict[str, dict[str, tuple[dict, object]]] = field(default_factory=dict)

    def spec(self, kind: str, key: str) -> dict | None:
        found = self.objects.get(kind, {}).get(key)
        return found[0] if found else None


def read(kinds) -> Current:
    current = Current()
    for kind in kinds:
        current.objects[kind] = {specs.key_of(kind, spec): (spec, obj) for spec, obj in _READERS[kind]()}
    return current


def _environments():
    from orbiter.catalog.models import Environment, FreezeWindow

    weekly = FreezeWindow.objects.filter(kind=FreezeWindow.WEEKLY).order_by("id")
    for env in Environment.objects.prefetch_related(Prefetch("freezes", queryset=weekly)).order_by("order", "name"):
        yield specs.environment_spec(env), env


def _applications():
    from orbiter.catalog.models import Application

    for app in Application.objects.order_by("name"):
        yield specs.application_spec(app), app


def _hosts():
    from orbiter.catalog.models import Application, Host

    names = Application.objects.only("name")
    hosts = (Host.objects.filter(source__isnull=True).select_related("environment")
             .prefetch_related(Prefetch("applications", queryset=names)).order_by("certname"))
    for host in hosts:
        yield specs.host_spec(host), host


def _pools():
    from orbiter.loadbalancers.models import Pool, PoolMember

    by_hand = PoolMember.objects.filter(host__source__isnull=True).select_related("host").order_by("host__certname")
    pools = (Pool.objects.select_related("application", "environment")
             .prefetch_related(Prefetch("members", queryset=by_hand)).order_by("name"))
    for pool in pools:
        yield specs.pool_spec(pool), pool


def _pipelines():
    from orbiter.pipelines.models import Pipeline, Stage

    stages = Stage.objects.select_related("environment").prefetch_related("gates").order_by("position")
    pipelines = (Pipeline.objects.select_related("application").prefetch_related(Prefetch("stages", queryset=stages))
                 .order_by("application__name"))
    for pipeline in pipelines:
        yield specs.pipeline_spec(pipeline), pipeline


def _role_bindings():
    from orbiter.accounts.models import RoleBinding

    bindings = RoleBinding.objects.select_related("user", "group", "environment").order_by("id")
    for binding in bindings:
        yield specs.role_binding_spec(binding), binding


def _host_sources():
    from orbiter.inventory.models import HostSource

    for source in HostSource.objects.select_related("environment").order_by("name"):
        yield specs.host_source_spec(source), source


_READERS = {"environments": _environments, "applications": _applications, "hosts": _hosts, "pools": _pools,
            "pipelines": _pipelines, "role_bindings": _role_bindings, "host_sources": _host_sources}
