from orbiter.core.management.ops import ActionCommand


class Command(ActionCommand):
    help = (
        "Cancel a deployment. Hosts in flight finish their step safely and go back in service; "
        "the others are skipped."
    )
    action = "cancel"
