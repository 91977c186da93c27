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
