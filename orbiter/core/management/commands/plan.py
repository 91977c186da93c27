from orbiter.core.management.ops import (
    OK,
    OpsCommand,
    add_request_arguments,
    describe_strategy,
    human_duration,
    strategy_from_options,
)


class Command(OpsCommand):
    help = (
        "Show what deploying VERSION of APP to an environment would do: the batches, the "
        "load-balancer actions and how long it should take. Runs the preflight checks; changes nothing."
    )

    def add_arguments(self, parser):
        add_request_arguments(parser)
        parser.add_argument("--queue", action="store_true",
                            help="plan as if queued behind a deployment already in progress")
        parser.add_argument("--json", action="store_true", help="print the plan as JSON")

    def run(self, *, application, version, env, queue, json, **options):
        from orbiter.deployments.selectors import plan_preview

        plan = plan_preview(application=application, environment=env, version=version,
                            strategy=strategy_from_options(options), queue=queue)
        if json:
            self.json(plan.as_dict())
            return OK
        hosts = sum(len(batch.hosts) for batch in plan.batches)
        self.say(f"plan: {plan.application} {plan.version} to {plan.environment}, "
                 f"{hosts} host(s) in {len(plan.batches)} batch(es)")
        self.say(f"strategy: {describe_strategy(plan.strategy)}")
        for batch in plan.batches:
            self.say()
            self.say(f"batch {batch.number} of {len(plan.batches)}: {len(batch.hosts)} host(s), "
                     f"{human_duration(batch.eta_s)}")
            for certname in batch.hosts:
                self.say(f"  host {certname}")
            for action in batch.lb_actions:
                self.say(f"  load balancer: {action}")
            if not batch.lb_actions:
                self.say("  load balancer: nothing to drain (no pool members)")
        self.say()
        self.say(f"ETA: {human_duration(plan.eta_s)}{_eta_note(plan.strategy)}")
        if plan.needs_approval:
            self.say(f"needs approval: {plan.environment} requires someone other than the requester to approve")
        if plan.waits_for:
            self.say(plan.waits_for)
        return OK


def _eta_note(strategy: dict) -> str:
    waits = []
    if strategy.get("canary") and strategy.get("canary_pause"):
        waits.append("the pause after the canary")
    if strategy.get("pause_between_batches") == "until-resumed":
        waits.append("the pauses between batches")
    return f" (not counting {' and '.join(waits)}, which last until resumed)" if waits else ""
