from orbiter.core.management.ops import ActionCommand


class Command(ActionCommand):
    help = "Approve a deployment awaiting approval (not your own)."
    action = "approve"
