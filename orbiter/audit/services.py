from orbiter.audit.models import Event


def event_record(
    *, actor: str, verb: str, obj, before: str = "", after: str = "", deployment_id=None, data=None
) -> Event:
    """Append one audit Event. Call it inside the transaction of the change it records."""
    return Event.objects.create(
        actor=actor,
        verb=verb,
        object_type=obj._meta.model_name if hasattr(obj, "_meta") else str(obj[0]),
        object_id=str(obj.pk) if hasattr(obj, "_meta") else str(obj[1]),
        before=before,
        after=after,
        deployment_id=deployment_id,
        data=data or {},
    )


def field_changes(before: dict, after: dict) -> dict:
    """{"before": {...}, "after": {...}} of the fields whose value differs, as JSON: what an
    update's Event records. Related objects are recorded by name, never secrets (callers
    leave those out)."""
    changed = sorted(name for name in after if before.get(name) != after[name])
    return {"before": {name: _plain(before.get(name)) for name in changed},
            "after": {name: _plain(after[name]) for name in changed}}


def _plain(value):
    if hasattr(value, "_meta"):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # dates, times, decimals
