"""Objects in the format's terms ("specs"): a file's objects with the schema's defaults filled
in, and the catalog's objects read into the same shape, so the two compare field by field.

`filled` and `trimmed` read the defaults off the schema (orbiter/fleet/schema.py): export
leaves out what equals its default, and a file that leaves it out means the same thing.
"""

import copy

from orbiter.fleet.schema import DEFINITIONS

FREEZE_KEYS = ("days", "start", "end", "timezone", "reason")


def filled(schema: dict, value):
    """`value` with every absent field that has a default set to it (recursively)."""
    if isinstance(value, dict) and "properties" in schema:
        out = {}
        for key, sub in schema["properties"].items():
            if key in value:
                out[key] = filled(sub, value[key])
            elif "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        if schema.get("additionalProperties", True) is not False:
            out.update({k: v for k, v in value.items() if k not in schema["properties"]})
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [filled(schema["items"], item) for item in value]
    return value


def trimmed(schema: dict, value):
    """`value` without the fields that equal their default (the inverse of `filled`)."""
    if isinstance(value, dict) and "properties" in schema:
        out = {}
        for key, item in value.items():
            sub = schema["properties"].get(key)
            if sub is None:
                out[key] = item
                continue
            if "default" in sub and item == filled(sub, sub["default"]):
                continue
            out[key] = trimmed(sub, item)
            if out[key] == {} and "default" in sub:
                del out[key]
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [trimmed(schema["items"], item) for item in value]
    return value


def normalized(kind: str, item: dict) -> dict:
    """A file's object in the shape the catalog's is read into (defaults, canonical order)."""
    spec = filled(DEFINITIONS[kind], item)
    if kind == "environments":
        spec["freezes"] = sorted_freezes(spec["freezes"])
    elif kind == "hosts":
        spec["applications"] = sorted(spec["applications"])
    elif kind == "pools":
        spec["max_unavailable"] = str(spec["max_unavailable"])
    elif kind == "pipelines":
        for i, stage in enumerate(spec["stages"]):
            gates = [_gate(gate, f"stages[{i}].gates[{j}]") for j, gate in enumerate(stage["gates"])]
            stage["gates"] = sorted(gates, key=lambda gate: gate["name"])
    return spec


def _gate(gate: dict, where: str) -> dict:
    """A gate as stored: its kind's options normalised by the kind (pipelines/gates/)."""
    from orbiter.pipelines.gates.base import registry

    known = ("name", "kind", "retries", "retry_delay_s", "timeout_s")
    options = registry.get(gate["kind"]).validate({k: v for k, v in gate.items() if k not in known},
                                                  field_name=where)
    return {"name": gate["name"], "kind": gate["kind"], **options,
            **{k: gate[k] for k in ("retries", "retry_delay_s", "timeout_s")}}


def sorted_freezes(freezes: list[dict]) -> list[dict]:
    from orbiter.catalog.models import FreezeWindow

    out = []
    for freeze in freezes:
        item = dict(freeze)
        item["days"] = sorted(set(item["days"]), key=FreezeWindow.DAYS.index)
        out.append({key: item[key] for key in FREEZE_KEYS})
    return sorted(out, key=lambda f: (f["start"], f["end"], f["days"], f["reason"], f["timezone"]))


# --- the catalog's objects as specs (one read per kind, see state.py) --------------------------


def environment_spec(env) -> dict:
    return {"name": env.name, "order": env.order, "requires_approval": env.requires_approval,
            "min_approvals": env.min_approvals, "puppet_environment": env.puppet_environment,
            "freezes": sorted_freezes([
                {"days": list(w.weekdays), "start": f"{w.start_time:%H:%M}", "end": f"{w.end_time:%H:%M}",
                 "timezone": w.timezone, "reason": w.reason}
                for w in env.freezes.all()  # prefetched: weekly windows only
            ])}


def application_spec(app) -> dict:
    return {"name": app.name, "package": app.package, "puppet_class": app.puppet_class,
            "description": app.description,
            "converge": {"driver": app.converge_driver, "options": app.converge_options or {}},
            "health": {"driver": app.health_driver, "options": app.health_options or {}},
            "rollout": app.rollout_defaults or {}}


def host_spec(host) -> dict:
    return {"name": host.certname, "environment": host.environment.name,
            "applications": sorted(app.name for app in host.applications.all()), "labels": host.labels or {}}


def pool_spec(pool) -> dict:
    return {"name": pool.name, "application": pool.application.name, "environment": pool.environment.name,
            "driver": pool.driver, "options": pool.options or {}, "max_unavailable": pool.max_unavailable,
            "member_template": pool.member_template,
            "members": {m.host.certname: m.member for m in pool.members.all()}}  # prefetched: hosts by hand


def pipeline_spec(pipeline) -> dict:
    stages = []
    for stage in pipeline.stages.all():
        stages.append({"environment": stage.environment.name, "promotion": stage.promotion, "url": stage.url,
                       "gates": [{"name": g.name, "kind": g.kind, **g.options, "retries": g.retries,
                                  "retry_delay_s": g.retry_delay_s, "timeout_s": g.timeout_s}
                                 for g in sorted(stage.gates.all(), key=lambda g: g.name)]})
    return {"application": pipeline.application.name, "continuous_delivery": pipeline.continuous_delivery,
            "policy": pipeline.policy, "stages": stages}


def role_binding_spec(binding) -> dict:
    spec = {"user": binding.user.get_username()} if binding.user_id else {"group": binding.group.name}
    spec["role"] = binding.role
    if binding.environment_id:
        spec["environment"] = binding.environment.name
    return spec


def host_source_spec(source) -> dict:
    return {"name": source.name, "environment": source.environment.name, "url": source.url,
            "ca_file": source.ca_file, "cert_file": source.cert_file, "key_file": source.key_file,
            "query": source.query, "facts": list(source.facts or []), "labels": source.labels or {},
            "applications": list(source.applications or []), "interval_s": source.interval_s,
            "enabled": source.enabled}


def key_of(kind: str, spec: dict) -> str:
    """An object's identity within its kind, as paths and the diff name it."""
    if kind == "pipelines":
        return spec["application"]
    if kind == "role_bindings":
        who = f"user:{spec['user']}" if spec.get("user") else f"group:{spec['group']}"
        return f"{who}/{spec['role']}/{spec.get('environment') or '*'}"
    return spec["name"]
