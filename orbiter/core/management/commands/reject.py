from orbiter.core.management.ops import ActionCommand


class Command(ActionCommand):
    help = "Reject a deployment awaiting approval."
    action = "reject"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--reason", default="", metavar="TEXT", help="why (shown to the requester)")

    def service_options(self, options: dict) -> dict:
        return {"reason": options["reason"]}
