"""Writes to load-balancer pools and their members, each validated and audited.

A pool's options are checked by building its driver (which reads them, changes nothing on
the load balancer). Option values that hold a secret are recorded as "(secret)" in Events.
"""

import re

from django.db import transaction

from orbiter.audit.services import event_record, field_changes
from orbiter.catalog.models import Application, Environment, Host
from orbiter.common import validators
from orbiter.common.errors import NotFound, ValidationError
from orbiter.loadbalancers import budget
from orbiter.loadbalancers.base import registry
from orbiter.loadbalancers.models import Pool, PoolMember

POOL_FIELDS = ("name", "application", "environment", "driver", "options", "max_unavailable", "member_template")
MEMBER_TEMPLATES = ("{certname}", "{hostname}")
MEMBER_FIELDS = ("pool", "host", "member")
_MEMBER = re.compile(r"^[A-Za-z0-9_.:/@\-]{1,200}$")
_SECRET = re.compile(r"password|secret|token", re.I)


def pool_validate(fields: dict) -> None:
    _known("pool", fields, POOL_FIELDS)
    validators.slug("name", fields.get("name"))
    if not isinstance(fields.get("application"), Application):
        raise ValidationError("application: give the application the pool serves", field="application")
    if not isinstance(fields.get("environment"), Environment):
        raise ValidationError("environment: give the environment the pool serves", field="environment")
    options = fields.get("options") or {}
    if not isinstance(options, dict):
        raise ValidationError('options: give a JSON object, e.g. {"backend": "shop"}', field="options")
    driver = registry.get(fields.get("driver") or "simulated")
    driver(fields["name"], options)  # refuses a bad option, naming it
    budget.parse(fields.get("max_unavailable") or "")
    template = fields.get("member_template", MEMBER_TEMPLATES[0])
    if template not in MEMBER_TEMPLATES:
        raise ValidationError(f"member_template: {template!r} is not allowed; allowed: {', '.join(MEMBER_TEMPLATES)}",
                              field="member_template")


def pool_create(*, actor: str, **fields) -> Pool:
    pool_validate(fields)
    _unique_name(fields["name"])
    with transaction.atomic():
        pool = Pool.objects.create(**fields)
        event_record(actor=actor, verb="pool.create", obj=pool, data={"after": _described(pool)})
    return pool


def pool_update(*, pool: Pool | int, actor: str, **changes) -> Pool:
    with transaction.atomic():
        found = _locked(Pool, pool)
        before = {name: getattr(found, name) for name in POOL_FIELDS}
        after = {**before, **changes}
        pool_validate(after)
        _unique_name(after["name"], exclude=found.pk)
        if before == after:
            return found
        changed = field_changes(_redacted(before), _redacted(after))
        if before["options"] != after["options"] and "options" not in changed["after"]:
            changed["before"]["options"] = changed["after"]["options"] = "(a secret changed)"
        Pool.objects.filter(pk=found.pk).update(**{k: v for k, v in after.items() if before[k] != v})
        found.refresh_from_db()
        event_record(actor=actor, verb="pool.update", obj=found, data=changed)
    return found


def pool_delete(*, pool: Pool | int, actor: str) -> None:
    """Delete a pool and its members (the load balancer itself is left as it is)."""
    with transaction.atomic():
        found = _locked(Pool, pool)
        event_record(actor=actor, verb="pool.delete", obj=found,
                     data={"before": _described(found), "members": sorted(found.members.values_list("member",
                                                                                                  flat=True))})
        found.delete()


def pool_member_validate(fields: dict) -> None:
    _known("pool member", fields, MEMBER_FIELDS)
    pool, host = fields.get("pool"), fields.get("host")
    if not isinstance(pool, Pool):
        raise ValidationError("pool: give the pool the host is a member of", field="pool")
    if not isinstance(host, Host):
        raise ValidationError("host: give the host behind this member", field="host")
    if host.environment_id != pool.environment_id:
        raise ValidationError(f"host: {host} is in {host.environment}, the pool {pool} serves {pool.environment}",
                              field="host")
    if not isinstance(fields.get("member"), str) or not _MEMBER.match(fields["member"]):
        raise ValidationError("member: give the member's name on the load balancer (letters, digits and "
                              "_ . : / @ -, at most 200 characters)", field="member")


def pool_member_create(*, actor: str, pool: Pool, host: Host, member: str) -> PoolMember:
    pool_member_validate({"pool": pool, "host": host, "member": member})
    _unique_member(pool, host)
    with transaction.atomic():
        created = PoolMember.objects.create(pool=pool, host=host, member=member)
        event_record(actor=actor, verb="pool_member.create", obj=created,
                     data={"pool": pool.name, "host": host.certname, "member": member})
    return created


def pool_member_update(*, pool_member: PoolMember | int, actor: str, **changes) -> PoolMember:
    with transaction.atomic():
        found = _locked(PoolMember, pool_member)
        before = {name: getattr(found, name) for name in MEMBER_FIELDS}
        after = {**before, **changes}
        pool_member_validate(after)
        _unique_member(after["pool"], after["host"], exclude=found.pk)
        if before == after:
            return found
        PoolMember.objects.filter(pk=found.pk).update(**{k: v for k, v in after.items() if before[k] != v})
        found.refresh_from_db()
        event_record(actor=actor, verb="pool_member.update", obj=found, data=field_changes(before, after))
    return found


def pool_member_delete(*, pool_member: PoolMember | int, actor: str) -> None:
    with transaction.atomic():
        found = _locked(PoolMember, pool_member)
        event_record(actor=actor, verb="pool_member.delete", obj=found,
                     data={"pool": found.pool.name, "host": found.host.certname, "member": found.member})
        found.delete()


def _known(kind: str, fields: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a field of a {kind}; allowed: {', '.join(known)}",
                              field=unknown[0])


def _unique_name(name: str, *, exclude=None) -> None:
    if Pool.objects.filter(name=name).exclude(pk=exclude).exists():
        raise ValidationError(f"name: {name!r} is taken; give another", field="name")


def _unique_member(pool: Pool, host: Host, *, exclude=None) -> None:
    if PoolMember.objects.filter(pool=pool, host=host).exclude(pk=exclude).exists():
        raise ValidationError(f"host: {host} is already a member of {pool}", field="host")


def _locked(model, obj):
    pk = obj.pk if isinstance(obj, model) else obj
    found = model.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(f"{model._meta.verbose_name} #{pk} does not exist")
    return found


def _redacted(values: dict) -> dict:
    options = values.get("options") or {}
    if isinstance(options, dict):
        options = {key: "(secret)" if _SECRET.search(str(key)) else value for key, value in options.items()}
    return {**values, "options": options}


def _described(pool: Pool) -> dict:
    return field_changes({}, _redacted({name: getattr(pool, name) for name in POOL_FIELDS}))["after"]
