"""`orbiter apply`: make the catalog what the files say, in one transaction.

1. Parse and check the documents (documents.py: YAML bounds, the schema) and collect their
   objects (diff.collect: defaults filled, the same object twice refused).
2. Read the catalog once (state.read) and compare: creates, updates, and with `prune` the
   deletes of objects of the kinds the files name that the files no longer list.
3. Refuse a prune that would delete what a deployment in progress involves, naming all of them.
4. Write every change through the services (write.Writer), in the order kinds refer to each
   other; any refusal re-anchored under its path aborts the whole transaction.
5. A dry run (`--diff`, `dry_run`) does all of that and rolls back: what it accepts, the real
   apply accepts, by the same code.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from orbiter.common.errors import Conflict
from orbiter.fleet import diff, state
from orbiter.fleet.diff import DELETE, Change
from orbiter.fleet.documents import Document
from orbiter.fleet.errors import FleetError, Problem
from orbiter.fleet.schema import KINDS
from orbiter.fleet.write import Writer


@dataclass
class Outcome:
    changes: list[Change]
    applied: bool

    def as_dict(self) -> dict:
        return {"applied": self.applied, "summary": diff.summary(self.changes),
                "changes": [change.as_dict() for change in self.changes]}


def fleet_apply(*, documents: list[Document], actor: str, prune: bool = False, dry_run: bool = False) -> Outcome:
    desired = diff.collect(documents)
    try:
        return _apply(desired, actor=actor, prune=prune, dry_run=dry_run)
    except IntegrityError:
        # Another writer created or deleted an object between the read and the write (the
        # services check names first, a unique index has the last word): nothing was written.
        raise Conflict("the catalog changed while the files were being applied; nothing was written, "
                       "apply again") from None


def _apply(desired: diff.Desired, *, actor: str, prune: bool, dry_run: bool) -> Outcome:
    with transaction.atomic():
        current = state.read(KINDS)
        changes = diff.compare(desired, current, prune=prune)
        if prune:
            _refuse_busy([change for change in changes if change.action == DELETE], current)
        writer = Writer(actor)
        for change in changes:
            writer.write(change)
        if dry_run:
            transaction.set_rollback(True)
    return Outcome(changes, applied=not dry_run)


def _refuse_busy(deletes: list[Change], current: state.Current) -> None:
    """Every object a prune would delete while a deployment (or a pipeline run) in progress
    involves it: its environment, its application, a host in it, a pool of both."""
    if not deletes:
        return
    from orbiter.deployments import states
    from orbiter.deployments.models import Deployment, HostDeployment
    from orbiter.pipelines import states as pipeline_states
    from orbiter.pipelines.models import PipelineRun

    active = list(Deployment.objects.filter(status__in=states.ACTIVE)
                  .values_list("pk", "status", "environment_id", "application_id"))
    by_environment, by_application, by_pair = {}, {}, {}
    for pk, status, env_id, app_id in active:
        label = f"deployment #{pk} ({status})"
        by_environment.setdefault(env_id, label)
        by_application.setdefault(app_id, label)
        by_pair.setdefault((app_id, env_id), label)
    by_host = {}
    for host_id, pk in HostDeployment.objects.filter(deployment__status__in=states.ACTIVE).values_list(
            "host_id", "deployment_id"):
        by_host.setdefault(host_id, f"deployment #{pk}")
    # A host not yet in a deployment's rows (queued, awaiting approval) is still involved when
    # the deployment is of one of its applications in its environment.
    from orbiter.catalog.models import Host

    deleted_hosts = {current.objects["hosts"][c.key][1].pk: current.objects["hosts"][c.key][1].environment_id
                     for c in deletes if c.kind == "hosts"}
    for host_id, app_id in Host.applications.through.objects.filter(host_id__in=deleted_hosts).values_list(
            "host_id", "application_id"):
        label = by_pair.get((app_id, deleted_hosts[host_id]))
        if label:
            by_host.setdefault(host_id, label)
    running_pipelines = set(PipelineRun.objects.filter(status__in=pipeline_states.RUN_ACTIVE | {pipeline_states.QUEUED})
                            .values_list("pipeline_id", flat=True))
    problems = []
    for change in deletes:
        obj = current.objects[change.kind][change.key][1]
        busy = {
            "environments": lambda o: by_environment.get(o.pk),
            "applications": lambda o: by_application.get(o.pk),
            "hosts": lambda o: by_host.get(o.pk),
            "pools": lambda o: by_pair.get((o.application_id, o.environment_id)),
            "pipelines": lambda o: "a pipeline run" if o.pk in running_pipelines else None,
        }.get(change.kind, lambda o: None)(obj)
        if busy:
            problems.append(Problem(None, change.path, f"not deleted: {busy} involves it; prune again once it ends"))
    if problems:
        raise FleetError(problems)
