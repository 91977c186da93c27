"""Writes for host sources: creating, changing and deleting the PuppetDB queries hosts come from."""

import re
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from orbiter.audit.services import event_record
from orbiter.catalog.models import Application, Environment
from orbiter.catalog.services import _delete, _locked, _plain_values, _unique, _update, _values
from orbiter.common import validators
from orbiter.common.errors import ValidationError
from orbiter.inventory.models import DEFAULT_SYNC_INTERVAL_S, MIN_SYNC_INTERVAL_S, HostSource

HOSTSOURCE_FIELDS = ("name", "environment", "url", "ca_file", "cert_file", "key_file", "query", "facts", "labels",
                     "applications", "interval_s", "enabled")

# A change of these makes the source due at once: its hosts follow the new query or rules.
RESYNC_FIELDS = ("url", "ca_file", "cert_file", "key_file", "query", "facts", "labels", "applications", "enabled")
MAX_SYNC_INTERVAL_S = 7 * 86400
QUERY_MAX = 10_000
PATH_MAX = 500  # the model's CharFields
MAX_FACTS = 100
MAX_LABELS = 50
MAX_RULES = 200
# PQL entities whose rows carry a certname (the sync reads the node set from them).
PQL_ENTITIES = ("nodes", "inventory", "facts", "fact_contents", "resources")

# Facter's names: letters, digits, '_', with '.' for structured paths (os.family) and
# '-'/':' as some custom facts use them.
_FACT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# A class as Puppet names it (shop_api) or as PuppetDB titles it (Shop_api, Profile::Shop_api).
_CLASS = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(::[A-Za-z][A-Za-z0-9_]*)*$")
_PQL_START = re.compile(r"^\s*([a-z_]+)\s*[\[{]")


def hostsource_validate(fields: dict) -> None:
    """What every write of a host source checks before anything is written (create, update,
    the admin's form, `orbiter apply`): every field, each refusal naming the field and what
    is allowed, and that every application a rule names exists."""
    unknown = sorted(set(fields) - set(HOSTSOURCE_FIELDS))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a field of a host source; allowed: {', '.join(HOSTSOURCE_FIELDS)}",
                              field=unknown[0])
    validators.slug("name", fields.get("name"))
    if not isinstance(fields.get("environment"), Environment):
        raise ValidationError("environment: give the environment the source's hosts belong to", field="environment")
    _url(fields.get("url"))
    for name in ("ca_file", "cert_file", "key_file"):
        _path(name, fields.get(name, ""))
    if bool(fields.get("cert_file")) != bool(fields.get("key_file")):
        missing = "key_file" if fields.get("cert_file") else "cert_file"
        raise ValidationError(f"{missing}: a client certificate needs both cert_file and key_file", field=missing)
    if urlsplit(fields["url"]).scheme == "http":
        for name in ("ca_file", "cert_file", "key_file"):
            if fields.get(name):
                raise ValidationError(f"{name}: TLS files need an https:// url; this one is http://", field=name)
    _query(fields.get("query"))
    _facts(fields.get("facts", []))
    _labels(fields.get("labels", {}))
    _rules(fields.get("applications", []))
    interval_s = fields.get("interval_s", DEFAULT_SYNC_INTERVAL_S)
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or not (
        MIN_SYNC_INTERVAL_S <= interval_s <= MAX_SYNC_INTERVAL_S
    ):
        raise ValidationError(f"interval_s: {interval_s!r} is not allowed; give whole seconds from "
                              f"{MIN_SYNC_INTERVAL_S} to {MAX_SYNC_INTERVAL_S}", field="interval_s")
    if not isinstance(fields.get("enabled", True), bool):
        raise ValidationError("enabled: give true or false", field="enabled")


def hostsource_create(*, name: str, environment: Environment, actor: str, **fields) -> HostSource:
    """A new source; its first sync is due now (the beat task or `orbiter inventory sync`)."""
    hostsource_validate({"name": name, "environment": environment, **fields})
    _unique(HostSource, "name", name)
    with transaction.atomic():
        source = HostSource.objects.create(name=name, environment=environment, **fields)
        event_record(actor=actor, verb="hostsource.create", obj=source,
                     data={"after": _plain_values(source, HOSTSOURCE_FIELDS)})
    return source


def hostsource_update(*, source: HostSource | int, actor: str, **changes) -> HostSource:
    """Change some fields of a source; the others keep their value. One Event with the values
    before and after, none when nothing changed. The environment cannot move while the source
    has hosts (they are hosts of that environment, in its pools)."""
    with transaction.atomic():
        found = _locked(HostSource, source)
        before = _values(found, HOSTSOURCE_FIELDS)
        after = {**before, **changes}
        hostsource_validate(after)
        _unique(HostSource, "name", after["name"], exclude=found.pk)
        if after["environment"].pk != found.environment_id:
            active = found.hosts.filter(retired_at__isnull=True).count()
            if active:
                raise ValidationError(f"environment: {found} has {active} hosts in {found.environment}; a source "
                                      "cannot move them; create a new source for the other environment",
                                      field="environment")
        updated = _update(found, before, after, verb="hostsource.update", actor=actor)
        if any(before[name] != after[name] for name in RESYNC_FIELDS):
            HostSource.objects.filter(pk=found.pk).update(next_sync_at=timezone.now())  # applied at the next tick
        return updated


def hostsource_delete(*, source: HostSource | int, actor: str) -> None:
    """Delete a source. Its hosts stay, as hosts listed by hand (source empty): deleting a
    query must not take a fleet out of service; retire or delete them by hand if meant."""
    with transaction.atomic():
        found = _locked(HostSource, source)
        released = sorted(found.hosts.values_list("certname", flat=True))
        event_record(actor=actor, verb="hostsource.delete", obj=found,
                     data={"before": _plain_values(found, HOSTSOURCE_FIELDS), "hosts_released": len(released)})
        _delete(found)


# --- the checks -------------------------------------------------------------------------------


def _url(value) -> None:
    allowed = "allowed: an http:// or https:// URL of PuppetDB, e.g. https://puppetdb.example.com:8081"
    if not isinstance(value, str) or not value or len(value) > PATH_MAX or any(c.isspace() for c in value):
        raise ValidationError(f"url: {value!r} is not a URL; {allowed}", field="url")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 — raises ValueError on a port that is not a number
    except ValueError:
        raise ValidationError(f"url: {value!r} is not a URL; {allowed}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"url: {value!r} is not allowed; {allowed}", field="url")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("url: give PuppetDB's base URL without credentials, query or fragment (PuppetDB "
                              "authenticates by client certificate: cert_file and key_file)", field="url")


def _path(name: str, value) -> None:
    if value == "":
        return
    if not isinstance(value, str) or not value.startswith("/") or len(value) > PATH_MAX or "\x00" in value \
            or any(c in value for c in "\r\n"):
        raise ValidationError(f"{name}: {value!r} is not allowed; give an absolute path of a PEM file on the "
                              "control plane (e.g. /etc/orbiter/puppetdb/ca.pem), or leave it empty", field=name)


def _query(value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("query: give a PQL query returning nodes, e.g. "
                              "nodes[certname] { resources { type = 'Class' and title = 'Shop_api' } }", field="query")
    if len(value) > QUERY_MAX or "\x00" in value:
        raise ValidationError(f"query: at most {QUERY_MAX} characters, no NUL", field="query")
    start = _PQL_START.match(value)
    if not start or start.group(1) not in PQL_ENTITIES:
        raise ValidationError(f"query: a PQL query starting with one of {', '.join(PQL_ENTITIES)} "
                              "(e.g. nodes[certname] { facts { name = 'orbiter_env' and value = 'production' } })",
                              field="query")


def _facts(value) -> None:
    if not isinstance(value, list) or len(value) > MAX_FACTS or not all(
        isinstance(name, str) and _FACT.match(name) for name in value
    ) or len(set(value)) != len(value):
        raise ValidationError(f'facts: give a list of at most {MAX_FACTS} distinct fact names, e.g. '
                              '["os", "ipaddress", "dc"] (letters, digits, "_", ".", ":", "-")', field="facts")


def _labels(value) -> None:
    if not isinstance(value, dict) or len(value) > MAX_LABELS or not all(
        isinstance(label, str) and _LABEL.match(label) and isinstance(fact, str) and _FACT.match(fact)
        for label, fact in value.items()
    ):
        raise ValidationError(f'labels: give a JSON object {{label: fact name}} of at most {MAX_LABELS} entries, '
                              'e.g. {"datacenter": "dc"}; labels of lowercase letters, digits, "_", ".", "-"',
                              field="labels")


def _rules(value) -> None:
    example = ('e.g. [{"application": "shop-api", "class": "Shop_api"}, '
               '{"application": "shop-api", "fact": "role", "value": "shop"}]')
    if not isinstance(value, list) or len(value) > MAX_RULES:
        raise ValidationError(f"applications: give a list of at most {MAX_RULES} rules, {example}",
                              field="applications")
    for index, rule in enumerate(value):
        where = f"applications[{index}]"
        if not isinstance(rule, dict) or set(rule) not in ({"application", "class"},
                                                           {"application", "fact", "value"}):
            raise ValidationError(f'{where}: a rule is {{"application", "class"}} or {{"application", "fact", '
                                  f'"value"}}, {example}', field="applications")
        if "class" in rule and not (isinstance(rule["class"], str) and len(rule["class"]) <= 200
                                    and _CLASS.match(rule["class"])):
            raise ValidationError(f"{where}.class: {rule['class']!r} is not a Puppet class name; allowed: words of "
                                  "letters, digits and '_' separated by '::', e.g. Shop_api", field="applications")
        if "fact" in rule:
            if not (isinstance(rule["fact"], str) and _FACT.match(rule["fact"])):
                raise ValidationError(f"{where}.fact: {rule['fact']!r} is not a fact name", field="applications")
            fact_value = rule["value"]
            if isinstance(fact_value, float) or not isinstance(fact_value, (str, int, bool)) or (
                isinstance(fact_value, str) and len(fact_value) > 200
            ):
                raise ValidationError(f"{where}.value: give the fact's value as a string (at most 200 characters), "
                                      "a whole number or true/false", field="applications")
    names = {rule["application"] for rule in value if isinstance(rule["application"], str)}
    known = set(Application.objects.filter(name__in=names).values_list("name", flat=True))
    for index, rule in enumerate(value):
        if rule["application"] not in known:
            raise ValidationError(f"applications[{index}].application: no application {rule['application']!r}; "
                                  "create it first or name an existing one", field="applications")
