from orbiter.core.management.ops import ActionCommand


class Command(ActionCommand):
    help = "Give a deployment's failed and skipped hosts another round; a failed deployment runs again."
    action = "retry"
