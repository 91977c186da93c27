"""The pool capacity budget: a batch takes members out of service only while every pool they
belong to stays within its `max_unavailable`; otherwise they wait.

`admit()` answers, for the members a caller wants to drain, which it may drain now and why
the others wait. A member counts as out of service for any reason:

- its host is in flight (draining, converging, verifying, enabling) in any deployment of the
  pool's application: this deployment's earlier hosts and other concurrent deployments';
- the load balancer reports it not in service: admin `drain`/`down`, or health `down`
  (a crashed backend, a host someone drained by hand, a host a failed deployment left out);
- the load balancer cannot say (a permanent error for that member): it is not serving.

A wanted member already out of service takes no further slot: draining it costs nothing.

Concurrency (two engines launching batches of two deployments that share a pool):
1. the caller opens a transaction;
2. `admit()` locks the rows of the pools involved (`SELECT … FOR UPDATE`, in primary-key
   order so two callers never deadlock), then counts the hosts in flight, a query made after
   the lock is granted, so under READ COMMITTED it sees everything the previous holder
   committed;
3. the caller moves the admitted hosts to `draining` in the same transaction and commits,
   which releases the locks.
The second caller therefore waits at step 2 until the first has committed its hosts as in
flight, and counts them. On SQLite (standalone) the lock is a no-op, but writers are already
serialized by `BEGIN IMMEDIATE`. The load balancer's own states are best read before the
transaction (`read_states()`, passed in as `lb_states`) so no network call is made while
holding the pool locks; they are advisory anyway (a member can go down at any moment).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from orbiter.common.errors import DriverError, OrbiterError, ValidationError
from orbiter.loadbalancers import base as lb
from orbiter.loadbalancers import budget
from orbiter.loadbalancers.models import Pool, PoolMember

# Host statuses in which a deployment has (or is about to have) the host out of service.
# The same values as deployments.states.IN_FLIGHT, spelled here so this module does not
# depend on the deployments app.
IN_FLIGHT = ("draining", "converging", "verifying", "enabling")

LbStates = Mapping[int, Mapping[str, lb.MemberState | DriverError] | DriverError]


@dataclass
class PoolUsage:
    pool: Pool
    members: int
    limit: int | None  # None: no budget
    out: dict[str, str] = field(default_factory=dict)  # member -> why it is out of service
    unreadable: str = ""  # the load balancer could not be read: take nothing more out

    def room(self) -> float:
        if self.limit is None:
            return float("inf")
        return 0 if self.unreadable else self.limit - len(self.out)

    def waiting_reason(self) -> str:
        if self.unreadable:
            return f"waiting for capacity in pool {self.pool.name}: {self.unreadable}"
        return (f"waiting for capacity in pool {self.pool.name} ({len(self.out)} of {self.members} "
                f"out of service, max {self.limit})")


@dataclass
class Admission:
    admitted: dict[Pool, list[str]]  # per pool, the members that may be drained now
    waiting: list[str]  # one reason per pool that held members back
    usage: dict[int, PoolUsage]  # per pool id, after the admission


def read_states(pools: Iterable[Pool]) -> dict[int, dict[str, lb.MemberState | DriverError] | DriverError]:
    """Every member's state per pool, as the load balancer sees it (for `admit(lb_states=…)`).
    A pool whose driver cannot be built or reached answers a DriverError for the whole pool."""
    answer: dict[int, dict[str, lb.MemberState | DriverError] | DriverError] = {}
    for pool in pools:
        members = list(PoolMember.objects.filter(pool=pool).values_list("member", flat=True))
        try:
            answer[pool.pk] = lb.driver_for(pool).states_many(members)
        except DriverError as error:
            answer[pool.pk] = error
        except OrbiterError as error:  # bad driver name or options: a person must fix the pool
            answer[pool.pk] = DriverError(f"pool {pool.name}: {error.message}", permanent=True)
    return answer


def admit(pool_members_wanted: Mapping[Pool, Sequence[str]], *, lb_states: LbStates | None = None) -> Admission:
    """Admit as many of the wanted members as each pool's budget allows, in the order given.
    Must run inside the caller's transaction (see the module's docstring)."""
    units = [(f"{pool.pk}:{m}", [(pool, m)]) for pool, members in pool_members_wanted.items() for m in members]
    admitted_units, waiting, usage = _admit(units, lb_states)
    admitted: dict[Pool, list[str]] = {pool: [] for pool in pool_members_wanted}
    needs = dict(units)
    for key in admitted_units:
        for pool, member in needs[key]:
            admitted[pool].append(member)
    return Admission(admitted=admitted, waiting=waiting, usage=usage)


def admit_hosts(application, host_ids: Sequence[int], *, lb_states: LbStates | None = None
                ) -> tuple[list[int], list[str]]:
    """The engine's form: hosts (ids, in batch order) it wants to drain for `application`.
    A host is admitted only if every pool of the application it belongs to has room; a host in
    no pool is always admitted. Returns (admitted host ids, waiting reasons)."""
    memberships: dict[int, list[tuple[Pool, str]]] = {host_id: [] for host_id in host_ids}
    for member in PoolMember.objects.filter(host_id__in=list(host_ids), pool__application=application
                                            ).select_related("pool"):
        memberships[member.host_id].append((member.pool, member.member))
    admitted, waiting, _ = _admit([(h, memberships[h]) for h in host_ids], lb_states)
    return admitted, waiting


def _admit(units: list[tuple[object, list[tuple[Pool, str]]]], lb_states: LbStates | None):
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("capacity.admit() must run inside the transaction that drains the admitted members")
    pool_ids = sorted({pool.pk for _, needs in units for pool, _ in needs})
    pools = {p.pk: p for p in Pool.objects.select_for_update().filter(pk__in=pool_ids).order_by("pk")}
    if lb_states is None:
        lb_states = read_states(pools.values())
    usage = {pk: _usage(pool, lb_states.get(pk, {})) for pk, pool in pools.items()}
    admitted, held_back = [], set()
    for key, needs in units:
        fresh = [(pool.pk, member) for pool, member in needs if member not in usage[pool.pk].out]
        if all(usage[pk].room() >= 1 for pk, _ in fresh):
            for pk, member in fresh:
                usage[pk].out[member] = "admitted"
            admitted.append(key)
        else:
            held_back.update(pk for pk, _ in fresh if usage[pk].room() < 1)
    waiting = [usage[pk].waiting_reason() for pk in sorted(held_back)]
    return admitted, waiting, usage


def _usage(pool: Pool, states: Mapping[str, lb.MemberState | DriverError] | DriverError) -> PoolUsage:
    """Who is out of service in `pool` now; `pool` is locked by the caller."""
    members = dict(PoolMember.objects.filter(pool=pool).values_list("member", "host_id"))
    try:
        limit = budget.limit(pool.max_unavailable, len(members))
    except ValidationError as error:  # saved around the model's validator: a person must fix it
        return PoolUsage(pool=pool, members=len(members), limit=0, unreadable=f"pool misconfigured: {error.message}")
    usage = PoolUsage(pool=pool, members=len(members), limit=limit)
    if isinstance(states, DriverError):  # nothing known about who is down: a budget allows no more
        usage.unreadable, states = f"cannot read its load balancer ({states.message})", {}
    from django.apps import apps

    host_deployment = apps.get_model("deployments", "HostDeployment")
    busy = set(
        host_deployment.objects.filter(
            host_id__in=list(members.values()), status__in=IN_FLIGHT,
            deployment__application_id=pool.application_id,
        ).values_list("host_id", flat=True)
    )
    for member, host_id in members.items():
        state = states.get(member)
        if host_id in busy:
            usage.out[member] = "in a deployment"
        elif isinstance(state, DriverError):
            usage.out[member] = f"unknown to the load balancer: {state.message}"
        elif state is not None and state.admin != lb.UP:
            usage.out[member] = f"admin {state.admin}"
        elif state is not None and state.health == "down":
            usage.out[member] = "health down"
    return usage
