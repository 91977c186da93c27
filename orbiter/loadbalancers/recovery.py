"""After a crash: put back in service the hosts a deployment left disabled, but only the
healthy ones; report the others with the reason instead of leaving them out silently.

`reenable_if_healthy(application=…, hosts=…)`:
1. runs the application's health check on each host, with the version the host is pinned
   to (what Puppet installs there now), or the version given in `versions`;
2. a host that fails it stays out of service, reported with the check's message;
3. a healthy host is enabled in every pool of the application it belongs to (one
   `restore_many` per pool); a pool that refuses or cannot be reached leaves the host
   reported with the load balancer's message (it may be half back: in the pools that
   answered). A host whose member is back but not yet reported up by the load balancer's own
   check counts as enabled: it is in service, the load balancer decides when traffic flows.
No database transaction is held during these calls; the caller records the outcome.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orbiter.catalog.models import Host, Pin
from orbiter.common.errors import DriverError, OrbiterError
from orbiter.health import base as health
from orbiter.loadbalancers import base as lb
from orbiter.loadbalancers.models import PoolMember


@dataclass
class Recovery:
    enabled: list[str] = field(default_factory=list)  # certnames back in service
    left_out: dict[str, str] = field(default_factory=dict)  # certname -> why it stays out


def reenable_if_healthy(*, application, hosts: Sequence[Host],
                        versions: Mapping[str, str] | None = None) -> Recovery:
    versions = dict(versions or {})
    labels = {p.host.certname: p.artifact.label
              for p in Pin.objects.filter(application=application, host__in=hosts).select_related("host", "artifact")}
    checker = health.driver_for(application)
    result = Recovery()
    healthy: list[Host] = []
    for host in hosts:
        version = versions.get(host.certname, labels.get(host.certname, ""))
        try:
            checker.check(host.certname, version)
        except DriverError as error:
            result.left_out[host.certname] = f"health check failed: {error.message}"
            continue
        healthy.append(host)

    pools: dict[int, tuple] = {}
    by_host: dict[int, list[tuple[int, str]]] = {h.pk: [] for h in healthy}
    for member in PoolMember.objects.filter(host__in=healthy, pool__application=application).select_related("pool"):
        pools.setdefault(member.pool_id, (member.pool, []))[1].append(member.member)
        by_host[member.host_id].append((member.pool_id, member.member))
    answers: dict[tuple[int, str], lb.MemberState | DriverError] = {}
    for pool_id, (pool, members) in pools.items():
        try:
            answer = lb.driver_for(pool).restore_many(members)
        except DriverError as error:
            answer = {m: error for m in members}
        except OrbiterError as error:
            answer = {m: DriverError(f"pool {pool.name}: {error.message}", permanent=True) for m in members}
        answers.update({(pool_id, m): state for m, state in answer.items()})
    for host in healthy:
        problems = []
        for pool_id, member in by_host[host.pk]:
            state = answers[(pool_id, member)]
            if isinstance(state, DriverError):
                problems.append(f"{pools[pool_id][0].name}/{member}: enable failed: {state.message}")
            elif state.admin != lb.UP:
                problems.append(f"{pools[pool_id][0].name}/{member}: still {state.admin} after enable")
        if problems:
            result.left_out[host.certname] = "; ".join(problems)
        else:
            result.enabled.append(host.certname)
    return result
