from orbiter.core.management.ops import OK, ActionCommand, load, status_sentence


class Command(ActionCommand):
    help = (
        "Roll a deployment back: a new deployment moves every pin it moved back to the previous "
        "version and converges those hosts. Prints the rollback deployment's id."
    )
    action = "rollback"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--reason", default="", metavar="TEXT", help="why (shown in history and audit)")
        parser.add_argument("--override-approval", default="", metavar="REASON",
                            help="where deployments need approval: start the rollback without it, saying why "
                                 "(recorded in the audit trail)")

    def run(self, *, id, reason, override_approval, **options):
        from orbiter.deployments.services import deployment_rollback

        child = load(deployment_rollback(deployment_id=id, actor=self.actor(), reason=reason,
                                         override_approval=override_approval).pk)
        self.say(f"deployment #{child.pk} {child.status}: rolls back #{id}, returning its hosts to their "
                 f"previous version ({child.application.name} {child.artifact.label} in {child.environment.name})")
        self.say(status_sentence(load(id)))
        return OK
