from orbiter.core.management.ops import (
    OK,
    OpsCommand,
    add_actor_argument,
    add_request_arguments,
    follow,
    positive_seconds,
    strategy_from_options,
)
from orbiter.deployments import states


class Command(OpsCommand):
    help = (
        "Deploy VERSION of APP to an environment: checks the request and queues the deployment "
        "(or leaves it awaiting approval). With --wait, follows it to its end."
    )

    def add_arguments(self, parser):
        add_request_arguments(parser)
        parser.add_argument("--queue", action="store_true",
                            help="queue behind a deployment already in progress instead of being refused")
        parser.add_argument("--comment", default="", metavar="TEXT", help="why (shown in history and audit)")
        add_actor_argument(parser)
        parser.add_argument("--wait", action="store_true",
                            help="follow the deployment until it ends; exit 0 only if it succeeded")
        parser.add_argument("--timeout", type=positive_seconds, metavar="SECONDS",
                            help="with --wait: give up waiting after this long (exit 3)")

    def run(self, *, application, version, env, queue, comment, wait, timeout, **options):
        from orbiter.deployments.services import deployment_create

        if timeout is not None and not wait:
            self.fail("--timeout: only meaningful with --wait")
        actor = self.actor()
        # A broker that is down is the engine's business (it logs, the sweeper catches up).
        deployment = deployment_create(
            application=application, environment=env, version=version, actor=actor,
            strategy=strategy_from_options(options), queue=queue, comment=comment,
        )
        what = f"{deployment.application.name} {deployment.artifact.label} to {deployment.environment.name}"
        if deployment.status == states.AWAITING_APPROVAL:
            self.say(f"deployment #{deployment.pk} awaiting approval: {what}; someone other than {actor} "
                     f"approves it with: orbiter approve {deployment.pk}")
        else:
            behind = f" (queued behind #{deployment.queued_behind_id})" if deployment.queued_behind_id else ""
            self.say(f"deployment #{deployment.pk} {deployment.status}: {what}{behind}")
        if wait:
            return follow(self, deployment.pk, timeout=timeout)
        return OK
