from orbiter.core.management.ops import ActionCommand


class Command(ActionCommand):
    help = "Resume a paused deployment."
    action = "resume"
