"""The engine's outward calls to load balancers and health checks, and their outcomes.

A round asks `Drivers` which calls are quick enough to make under the deployment lock and
makes them with `calls()`; slow ones are made after commit and written with `record()`.
"""

import json
import logging

from django.db.models import Exists, OuterRef, Q

from orbiter.catalog.models import Artifact
from orbiter.common.errors import DriverError, OrbiterError
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment
from orbiter.health import base as health
from orbiter.loadbalancers import base as lb
from orbiter.loadbalancers.models import PoolMember

log = logging.getLogger("orbiter.engine")


class Drivers:
    """What a round needs to know about this deployment's drivers, looked up once: the
    application's pools serving this environment (its own, and those another environment's
    pool shares with hosts of this one), which drivers may be called under the lock, which
    pools have a capacity budget, and the labels of the artifacts the hosts go to."""

    def __init__(self, deployment: Deployment):
        # Another environment's pool serves this one if one of its members is a host here:
        # asked per pool of the application (a few), not by listing the environment's members.
        serves_here = Exists(PoolMember.objects.filter(pool=OuterRef("pk"), host__environment=deployment.environment))
        pools = deployment.application.pools.filter(Q(environment=deployment.environment) | serves_here)
        self.pools = {p.pk: p for p in pools}
        self._members: dict[int, list[tuple[int, str]]] | None = None
        self.health = health.registry.get(deployment.application.health_driver).quick
        self.lb = all(lb.registry.get(p.driver).quick for p in self.pools.values())
        # Pools with a capacity budget: only then does launching a batch ask capacity.admit_hosts.
        self.budgeted = [p for p in self.pools.values() if p.max_unavailable]
        self._labels = {deployment.artifact_id: deployment.artifact.label}

    def members(self, host_ids) -> dict[int, list[tuple[int, str]]]:
        """Per host id, its (pool id, member name) in this deployment's pools. All the pools'
        members are read once per round, at the first call: the enable of one batch and the
        drain of the next then cost one query."""
        if self._members is None:
            self._members = {}
            for pool_id, host_id, member in PoolMember.objects.filter(pool_id__in=list(self.pools)).values_list(
                    "pool_id", "host_id", "member"):
                self._members.setdefault(host_id, []).append((pool_id, member))
        return {host_id: self._members.get(host_id, []) for host_id in host_ids}

    def step(self, status: str) -> bool:
        return self.health if status == states.VERIFYING else self.lb

    def label(self, hd: HostDeployment) -> str:
        """The version `hd` goes to (the deployment's artifact, or for a rollback each host's previous one)."""
        if hd.target_artifact_id not in self._labels:
            self._labels[hd.target_artifact_id] = Artifact.objects.get(pk=hd.target_artifact_id).label
        return self._labels[hd.target_artifact_id]


def calls(deployment: Deployment, hosts: list[HostDeployment], drivers: Drivers) -> list[tuple[HostDeployment, dict]]:
    """Make each host's step action (drain, health check or enable) and return the outcomes."""
    outcomes: list[tuple[HostDeployment, dict]] = []
    drain = [hd for hd in hosts if hd.status == states.DRAINING]
    enable = [hd for hd in hosts if hd.status == states.ENABLING]
    verify = [hd for hd in hosts if hd.status == states.VERIFYING]
    if drain:
        outcomes += _lb_calls(drivers, drain, drain=True)
    if enable:
        outcomes += _lb_calls(drivers, enable, drain=False)
    if verify:
        checker = health.driver_for(deployment.application)
        for hd in verify:
            outcomes.append((hd, _guard(hd, lambda hd=hd: {
                "ok": True, "message": checker.check(hd.certname, drivers.label(hd))})))
    return outcomes


def _lb_calls(drivers: Drivers, hosts: list[HostDeployment], *, drain: bool) -> list[tuple[HostDeployment, dict]]:
    """Drain (disable, then count open connections) or restore each host in every pool of
    the application (in this environment) it belongs to, one batch call per pool."""
    pools: dict[int, tuple] = {}
    host_members = drivers.members(hd.host_id for hd in hosts)
    for memberships in host_members.values():
        for pool_id, member in memberships:
            pools.setdefault(pool_id, (drivers.pools[pool_id], []))[1].append(member)
    results: dict[tuple[int, str], object] = {}
    for pool_id, (pool, members) in pools.items():
        try:
            driver = lb.driver_for(pool)
            answer = driver.drain_many(members) if drain else driver.restore_many(members)
        except DriverError as error:
            answer = {m: error for m in members}
        except OrbiterError as error:  # the pool's driver or options are wrong: a person must fix them
            answer = {m: DriverError(f"pool {pool.name}: {error.message}", permanent=True) for m in members}
        except Exception as error:  # an unexpected library error: transient, and logged
            log.exception("pool %s: load-balancer call failed", pool.name)
            answer = {m: DriverError(f"{type(error).__name__}: {error}") for m in members}
        results.update({(pool_id, m): state for m, state in answer.items()})
    outcomes = []
    for hd in hosts:
        states_ = [(name, results[(pool_id, name)]) for pool_id, name in host_members[hd.host_id]]
        errors = [(pool_id, name, results[(pool_id, name)]) for pool_id, name in host_members[hd.host_id]
                  if isinstance(results[(pool_id, name)], DriverError)]
        if errors:
            pool_id, name, error = errors[0]
            # `pool`: a load-balancer fault, which pauses the deployment when it persists.
            outcomes.append((hd, {"ok": False, "permanent": error.permanent, "pool": drivers.pools[pool_id].name,
                                  "message": f"pool {drivers.pools[pool_id].name} member {name}: {error.message}"}))
        elif drain:
            outcomes.append((hd, {"ok": True, "connections": sum(s.connections for _, s in states_)}))
        else:
            down = [name for name, s in states_ if s.admin != lb.UP]
            unhealthy = [name for name, s in states_ if s.health == "down"]
            if down:
                outcomes.append((hd, {"ok": False, "permanent": False, "message": f"{', '.join(down)} not up after enable"}))
            elif unhealthy:
                outcomes.append((hd, {"ok": True, "unhealthy": unhealthy}))
            else:
                outcomes.append((hd, {"ok": True}))
    return outcomes


def take_out(deployment: Deployment, hosts: list[HostDeployment], drivers: Drivers) -> dict[int, str]:
    """Drain hosts that must not serve (failed while enabling) from every pool of the
    application they belong to; per host id, what happened, for its failure reason."""
    notes = {}
    for hd, outcome in _lb_calls(drivers, hosts, drain=True):
        notes[hd.pk] = ("taken out of service" if outcome.get("ok")
                        else f"could not take it out of service: {outcome.get('message')}")
    return notes


def record_taken_out(notes: list[tuple[HostDeployment, str]]) -> None:
    """Write what a take-out did, compare-and-set on the host's step, round and attempt."""
    for hd, note in notes:
        HostDeployment.objects.filter(
            pk=hd.pk, status=hd.status, round=hd.round, attempt=hd.attempt, outcome__has_key="take_out"
        ).update(outcome={**hd.outcome, "note": note})


def _guard(hd: HostDeployment, call) -> dict:
    try:
        return call()
    except DriverError as error:
        return {"ok": False, "permanent": error.permanent, "message": error.message}
    except Exception as error:  # a bug or an unexpected library error: retry, and say so
        log.exception("deployment #%s host %s: %s failed", hd.deployment_id, name(hd), hd.status)
        return {"ok": False, "permanent": False, "message": f"{type(error).__name__}: {error}"}


def name(hd: HostDeployment) -> str:
    return getattr(hd, "certname", None) or str(hd.host)


def record(outcomes: list[tuple[HostDeployment, dict]]) -> None:
    """Write outcomes with compare-and-set on (step, round, attempt): an outcome for a step
    the host has left is dropped. Identical outcomes share one UPDATE."""
    groups: dict[tuple, list[int]] = {}
    for hd, outcome in outcomes:
        key = (hd.status, hd.round, hd.attempt, json.dumps(outcome, sort_keys=True))
        groups.setdefault(key, []).append(hd.pk)
    for (status, round_, attempt, outcome), ids in groups.items():
        HostDeployment.objects.filter(
            pk__in=ids, status=status, round=round_, attempt=attempt, outcome__isnull=True
        ).update(outcome=json.loads(outcome))
