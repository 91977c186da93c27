from orbiter.core.management.ops import (
    OK,
    OpsCommand,
    deployment_id,
    describe_strategy,
    host_counts,
    load,
    progress,
    status_label,
    when,
    whole_number,
)
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment


class Command(OpsCommand):
    help = "Show one deployment and its hosts, or (without ID) the most recent deployments."

    def add_arguments(self, parser):
        parser.add_argument("id", nargs="?", type=deployment_id, metavar="ID", help="the deployment's number")
        parser.add_argument("--limit", type=whole_number, default=20, metavar="N",
                            help="without ID: how many recent deployments to list (default 20)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, *, id, limit, json, **options):
        if id is None:
            return self.recent(limit, json)
        deployment = load(id)
        hosts = list(
            HostDeployment.objects.filter(deployment=deployment).select_related("host").order_by("batch", "host__certname")
        )
        if json:
            self.json(_as_dict(deployment, hosts))
            return OK
        counts = host_counts(deployment.pk)
        rows = [
            ("deployment", f"#{deployment.pk} {deployment.application.name} {deployment.artifact.label} "
                           f"to {deployment.environment.name}"),
            ("status", progress(deployment, counts).split(" ", 1)[1]),
            ("requested by", f"{deployment.requested_by_name} at {when(deployment.created_at)}"),
        ]
        if deployment.comment:
            rows.append(("comment", deployment.comment))
        if deployment.is_rollback and deployment.rollback_of_id:
            rows.append(("rollback of", f"#{deployment.rollback_of_id}"))
        rollbacks = list(deployment.rollbacks.order_by("id").values_list("pk", flat=True))
        if rollbacks:
            rows.append(("rolled back by", ", ".join(f"#{pk}" for pk in rollbacks)))
        if deployment.queued_behind_id and deployment.status == states.QUEUED:
            rows.append(("queued behind", f"#{deployment.queued_behind_id}"))
        rows.append(("strategy", describe_strategy(deployment.strategy)))
        if deployment.started_at:
            rows.append(("started", when(deployment.started_at)))
        if deployment.finished_at:
            rows.append(("finished", when(deployment.finished_at)))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.say(f"{label.ljust(width)}  {' '.join(str(value).split())}")
        self.say()
        if not hosts:
            self.say("no hosts yet: they are chosen when the deployment starts")
            return OK
        self.table(
            ("batch", "host", "step", "attempt", "error"),
            [(hd.batch + 1, hd.host.certname, hd.status, _attempt(hd), hd.error) for hd in hosts],
        )
        return OK

    def recent(self, limit: int, json: bool) -> int:
        deployments = list(
            Deployment.objects.select_related("application", "environment", "artifact").order_by("-id")[:limit]
        )
        if json:
            self.json([_as_dict(d) for d in deployments])
            return OK
        if not deployments:
            self.say("no deployments yet")
            return OK
        self.table(
            ("id", "app", "version", "env", "status", "requested by", "message"),
            [
                (d.pk, d.application.name, d.artifact.label, d.environment.name, status_label(d),
                 d.requested_by_name, d.message)
                for d in deployments
            ],
        )
        return OK


def _attempt(hd: HostDeployment) -> str:
    return f"{hd.attempt} (round {hd.round})" if hd.round > 1 else str(hd.attempt)


def _as_dict(d: Deployment, hosts: list[HostDeployment] | None = None) -> dict:
    data = {
        "id": d.pk,
        "application": d.application.name,
        "version": d.artifact.label,
        "environment": d.environment.name,
        "status": d.status,
        "cancel_requested": d.cancel_requested,
        "message": d.message,
        "requested_by": d.requested_by_name,
        "comment": d.comment,
        "is_rollback": d.is_rollback,
        "rollback_of": d.rollback_of_id,
        "queued_behind": d.queued_behind_id,
        "batches": len(d.plan),
        "current_batch": d.current_batch + 1 if d.current_batch >= 0 else None,
        "strategy": d.strategy,
        "created_at": d.created_at,
        "started_at": d.started_at,
        "finished_at": d.finished_at,
    }
    if hosts is not None:
        data["hosts"] = [
            {
                "batch": hd.batch + 1,
                "host": hd.host.certname,
                "step": hd.status,
                "attempt": hd.attempt,
                "round": hd.round,
                "error": hd.error,
                "started_at": hd.started_at,
                "finished_at": hd.finished_at,
            }
            for hd in hosts
        ]
    return data
