"""The fleet format's one definition: a JSON Schema (draft 2020-12) of one YAML document.

The parser checks every document against it first (orbiter/fleet/documents.py: types,
required fields, unknown keys, allowed values), fills in its `default`s before comparing a
file with the catalog (orbiter/fleet/kinds.py), and `orbiter schema` prints it for editors.
What a schema cannot say (a name taken, a driver's options, an unknown environment) the
services check when the objects are written.
"""

import dataclasses

from orbiter.deployments.strategy import Strategy  # Django-free, as this module must be

# Constants of the models, repeated so that `orbiter schema` runs without Django settings;
# tests/fleet/test_schema.py checks each against its model.
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # catalog.FreezeWindow.DAYS
GATE_KINDS = ("command", "http", "jenkins", "manual")  # pipelines.models
POLICIES = ("queue", "supersede")
PROMOTIONS = ("automatic", "approval")
MIN_SYNC_INTERVAL_S, DEFAULT_SYNC_INTERVAL_S, MAX_SYNC_INTERVAL_S = 30, 300, 7 * 86400  # inventory
ROLES = ("viewer", "deployer", "approver", "admin")  # accounts/roles.py

SCHEMA_ID = "urn:orbiter:fleet:1"  # a name, not a place: editors get the file from `orbiter schema`
# The plural keys of a document, in the order apply writes them (each kind may refer to the
# ones before it); prune deletes in the reverse order.
KINDS = ("environments", "applications", "host_sources", "hosts", "pools", "pipelines", "role_bindings")

NAME = {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$",
        "description": "lowercase letters, digits and '-', starting with a letter, at most 63 characters"}
CERTNAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{0,252}$", "description": "the host's Puppet certname"}
TEXT = {"type": "string", "maxLength": 10_000}
OPTIONS = {"type": "object", "description": "the driver's options (see its documentation)"}
STRINGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
WALL_CLOCK = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "HH:MM, 24 h"}
COUNT = {"type": ["string", "integer"], "description": "a number of hosts (3) or a percentage (\"25%\")"}


def _object(description: str, properties: dict, *, required: tuple[str, ...] = ("name",)) -> dict:
    return {"type": "object", "description": description, "additionalProperties": False,
            "required": list(required), "properties": properties}


def _rollout() -> dict:
    """Exactly the settings a deployment's Strategy accepts, read off the dataclass."""
    properties = {}
    for field in dataclasses.fields(Strategy):
        if field.name in ("batch_size", "failure_budget"):
            schema = dict(COUNT)
        elif field.name == "pause_between_batches":
            schema = {"type": ["string", "integer"], "description": "seconds, or \"until-resumed\""}
        elif field.type in (bool, "bool"):
            schema = {"type": "boolean"}
        elif field.type in (int, "int"):
            schema = {"type": "integer", "minimum": 1, "maximum": 20}
        else:
            schema = {"type": "number", "minimum": 0, "maximum": 86_400}
        properties[field.name] = {**schema, "description": f"default {field.default!r}"}
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "description": "rollout defaults copied into each deployment (docs/core.md: strategy)"}


def _driver(default: str) -> dict:
    return {"type": "object", "additionalProperties": False, "default": {"driver": default, "options": {}},
            "properties": {"driver": {"type": "string", "default": default}, "options": {**OPTIONS, "default": {}}}}


FREEZE = _object("a weekly freeze window: no deployments while it is open", {
    "days": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(DAYS)}},
    "start": WALL_CLOCK,
    "end": {**WALL_CLOCK, "description": "HH:MM; at or before start: runs into the next day"},
    "timezone": {"type": "string", "default": "UTC", "description": "IANA name, e.g. Europe/Paris"},
    "reason": {"type": "string", "minLength": 1, "maxLength": 200},
}, required=("days", "start", "end", "reason"))

ENVIRONMENT = _object("an environment: where hosts live and deployments go", {
    "name": NAME,
    "order": {"type": "integer", "minimum": 0, "maximum": 10_000, "default": 0,
              "description": "position in the pipeline (lower first)"},
    "requires_approval": {"type": "boolean", "default": False,
                          "description": "deployments here wait for approvals"},
    "min_approvals": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1,
                      "description": "distinct approvers (never the requester)"},
    "puppet_environment": {"type": "string", "pattern": "^[a-z0-9_]{0,63}$", "default": "",
                           "description": "the Puppet environment the ENC sets (empty: Puppet's default)"},
    "freezes": {"type": "array", "items": FREEZE, "default": [],
                "description": "weekly freeze windows (one-off freezes are operations: orbiter freeze)"},
})

APPLICATION = _object("an application: one RPM package deployed by pinning its version", {
    "name": NAME,
    "package": {"type": "string", "minLength": 1, "maxLength": 200, "description": "the RPM package's name"},
    "puppet_class": {"type": "string", "default": "",
                     "description": "the class the ENC assigns (default: the name with '_')"},
    "description": {**TEXT, "default": ""},
    "converge": {**_driver("simulated"), "description": "how a host gets the pinned version (docs/puppet.md)"},
    "health": {**_driver("none"), "description": "how a host is checked after converging"},
    "rollout": {**_rollout(), "default": {}},
}, required=("name", "package"))

HOST_SOURCE = _object("a PuppetDB query whose nodes are the hosts of one environment", {
    "name": NAME,
    "environment": NAME,
    "url": {"type": "string", "minLength": 1, "maxLength": 500,
            "description": "PuppetDB's base URL, e.g. https://puppetdb.example.com:8081"},
    "ca_file": {"type": "string", "maxLength": 500, "default": ""},
    "cert_file": {"type": "string", "maxLength": 500, "default": ""},
    "key_file": {"type": "string", "maxLength": 500, "default": ""},
    "query": {"type": "string", "minLength": 1, "maxLength": 10_000, "description": "PQL returning nodes"},
    "facts": {**STRINGS, "default": [], "description": "fact names to keep"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
               "description": "label -> fact name"},
    "applications": {"type": "array", "default": [], "description": "rules mapping a node to applications",
                     "items": {"oneOf": [
                         {"type": "object", "additionalProperties": False, "required": ["application", "class"],
                          "properties": {"application": NAME, "class": {"type": "string", "minLength": 1}}},
                         {"type": "object", "additionalProperties": False,
                          "required": ["application", "fact", "value"],
                          "properties": {"application": NAME, "fact": {"type": "string", "minLength": 1},
                                         "value": {"type": "string"}}},
                     ]}},
    "interval_s": {"type": "integer", "minimum": MIN_SYNC_INTERVAL_S, "maximum": MAX_SYNC_INTERVAL_S,
                   "default": DEFAULT_SYNC_INTERVAL_S},
    "enabled": {"type": "boolean", "default": True},
}, required=("name", "environment", "url", "query"))

HOST = _object("a host listed by hand (hosts from a host source belong to it)", {
    "name": {**CERTNAME, "description": "the host's certname"},
    "environment": NAME,
    "applications": {"type": "array", "items": NAME, "uniqueItems": True, "default": []},
    "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 200}, "default": {}},
}, required=("name", "environment"))

POOL = _object("a load-balancer pool serving one application in one environment", {
    "name": NAME,
    "application": NAME,
    "environment": NAME,
    "driver": {"type": "string", "default": "simulated", "description": "haproxy, f5, simulated"},
    "options": {**OPTIONS, "default": {}},
    "max_unavailable": {**COUNT, "default": "", "description": "members out of service at once: 2 or \"25%\""},
    "member_template": {"enum": ["{certname}", "{hostname}"], "default": "{certname}",
                        "description": "the member name of a host that joins from a host source"},
    "members": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                "description": "certname -> member name on the load balancer, for hosts listed by hand"},
})

GATE = {"type": "object", "required": ["name", "kind"],
        "description": "a gate; its other keys are the kind's options (docs/pipelines.md)",
        "properties": {"name": NAME, "kind": {"enum": list(GATE_KINDS)},
                       "retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 0},
                       "retry_delay_s": {"type": "number", "minimum": 0, "maximum": 3600, "default": 5.0},
                       "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86_400,
                                     "default": 600.0}}}

PIPELINE = _object("an application's pipeline: its stages and their gates", {
    "application": NAME,
    "continuous_delivery": {"type": "boolean", "default": True},
    "policy": {"enum": list(POLICIES), "default": "supersede"},
    "stages": {"type": "array", "minItems": 1, "items": _object("a stage", {
        "environment": NAME,
        "promotion": {"enum": list(PROMOTIONS), "default": "automatic"},
        "url": {"type": "string", "default": "", "description": "the stage's address for gates"},
        "gates": {"type": "array", "items": GATE, "default": []},
    }, required=("environment",))},
}, required=("application", "stages"))

ROLE_BINDING = {
    **_object("a role for a user or a group, in one environment or (no environment) all of them", {
        "user": {"type": "string", "minLength": 1, "maxLength": 150, "description": "an existing user"},
        "group": {"type": "string", "minLength": 1, "maxLength": 150, "description": "a group (created if new)"},
        "role": {"enum": list(ROLES)},
        "environment": {**NAME, "description": "absent: every environment"},
    }, required=("role",)),
    "oneOf": [{"required": ["user"]}, {"required": ["group"]}],
}

DEFINITIONS = {"environments": ENVIRONMENT, "applications": APPLICATION, "host_sources": HOST_SOURCE,
               "hosts": HOST, "pools": POOL, "pipelines": PIPELINE, "role_bindings": ROLE_BINDING}


def document_schema() -> dict:
    """The JSON Schema of one document (what `orbiter schema` prints)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Orbiter fleet file (one YAML document)",
        "description": "orbiter apply -f FILE; see docs/fleet.md",
        "type": "object",
        "additionalProperties": False,
        "properties": {kind: {"type": "array", "items": {"$ref": f"#/$defs/{kind}"}} for kind in KINDS},
        "$defs": {kind: DEFINITIONS[kind] for kind in KINDS},
    }
