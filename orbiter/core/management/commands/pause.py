from orbiter.core.management.ops import ActionCommand


class Command(ActionCommand):
    help = "Pause a running deployment: hosts in flight finish their step, no new ones start."
    action = "pause"
