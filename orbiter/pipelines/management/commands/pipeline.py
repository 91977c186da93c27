"""`orbiter pipeline ...`: define pipelines and act on the runs, through the pipeline services.

    orbiter pipeline apply FILE                     create or update one pipeline from YAML (the item
                                                    of `pipelines:` in a fleet file; `orbiter apply`
                                                    applies it with the whole fleet: docs/fleet.md)
    orbiter pipeline show APP [--json]              the definition (YAML, as apply reads it) and recent runs
    orbiter pipeline why APP VERSION [--json]       why an artifact is not promoting
    orbiter pipeline approve APP VERSION STAGE      approve the promotion to STAGE
    orbiter pipeline retry APP VERSION              resume a paused run / retry a failed one
    orbiter pipeline decide APP VERSION GATE pass|fail [--comment TEXT]
    orbiter pipeline start APP VERSION              put an artifact in the pipeline by hand
    orbiter pipeline cancel APP VERSION [--reason TEXT]
    orbiter pipeline override APP VERSION ENV --reason TEXT   let it skip the stages before ENV

Exit codes as the other operations commands: 0 done, 2 refused or invalid ("error: ...").
`why` exits 0 whatever the answer.
"""

from pathlib import Path

import yaml

from orbiter.common.errors import NotFound, OrbiterError, ValidationError
from orbiter.core.management.ops import OK, OpsCommand, add_actor_argument


class Command(OpsCommand):
    help = "Define pipelines (apply, show) and act on pipeline runs (why, approve, retry, decide, start, cancel, override)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        apply = actions.add_parser("apply", help="create or update a pipeline from a YAML file (the whole fleet, "
                                                 "pipelines included: orbiter apply, docs/fleet.md)")
        apply.add_argument("file", metavar="FILE", help="YAML definition (see docs/pipelines.md); - reads stdin")
        add_actor_argument(apply)
        show = actions.add_parser("show", help="a pipeline's definition and its recent runs")
        show.add_argument("application", metavar="APP")
        show.add_argument("--json", action="store_true")
        why = actions.add_parser("why", help="why an artifact is not promoting")
        self._artifact_arguments(why)
        why.add_argument("--json", action="store_true", help="the sentence and the details as JSON")
        approve = actions.add_parser("approve", help="approve the promotion of an artifact to a stage")
        self._artifact_arguments(approve)
        approve.add_argument("stage", metavar="STAGE", help="the stage's environment, e.g. production")
        add_actor_argument(approve)
        retry = actions.add_parser("retry", help="resume a paused run or retry a failed one")
        self._artifact_arguments(retry)
        add_actor_argument(retry)
        decide = actions.add_parser("decide", help="pass or fail a manual gate, or override a paused one")
        self._artifact_arguments(decide)
        decide.add_argument("gate", metavar="GATE")
        decide.add_argument("verdict", choices=["pass", "fail"])
        decide.add_argument("--stage", metavar="ENV", help="the gate's stage when several stages have that gate")
        decide.add_argument("--comment", default="", metavar="TEXT")
        add_actor_argument(decide)
        start = actions.add_parser("start", help="put an artifact in its pipeline by hand")
        self._artifact_arguments(start)
        add_actor_argument(start)
        cancel = actions.add_parser("cancel", help="take an artifact out of its pipeline")
        self._artifact_arguments(cancel)
        cancel.add_argument("--reason", default="", metavar="TEXT")
        add_actor_argument(cancel)
        override = actions.add_parser("override", help="let an artifact skip the stages before ENV (admin)")
        self._artifact_arguments(override)
        override.add_argument("environment", metavar="ENV")
        override.add_argument("--reason", required=True, metavar="TEXT", help="why (kept in the audit trail)")
        add_actor_argument(override)

    @staticmethod
    def _artifact_arguments(parser) -> None:
        parser.add_argument("application", metavar="APP", help="the application, e.g. shop-api")
        parser.add_argument("version", metavar="VERSION", help="version-release, e.g. 1.4.0-2")

    def run(self, *, action, **options):
        return getattr(self, f"do_{action}")(**options) or OK

    # --- definition ---

    def do_apply(self, *, file, **_):
        from orbiter.pipelines.services import pipeline_apply

        try:
            text = self.stdin.read() if file == "-" else Path(file).read_text()
        except OSError as error:
            self.fail(f"FILE: cannot read {file}: {error.strerror}")
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as error:
            self.fail(f"FILE: {file} is not valid YAML: {error}")
        pipeline = pipeline_apply(spec=spec, actor=self.actor())
        stages = " → ".join(
            f"{s.environment.name}{' (approval)' if s.promotion == 'approval' else ''}"
            f"{' [' + ', '.join(g.name for g in s.gates.all()) + ']' if s.gates.exists() else ''}"
            for s in pipeline.stages.select_related("environment").order_by("position")
        )
        cd = "on" if pipeline.continuous_delivery else "off"
        self.say(f"pipeline of {pipeline.application.name}: {stages}; continuous delivery {cd}, policy {pipeline.policy}")

    def do_show(self, *, application, json, **_):
        from orbiter.pipelines.selectors import pipeline_describe, runs_recent

        app = self._application(application)
        definition = pipeline_describe(app)
        if definition is None:
            self.fail(f"{app.name} has no pipeline; define one with: orbiter pipeline apply FILE")
        runs = [
            {"run": r.pk, "version": r.artifact.label, "status": r.status, "message": r.message,
             "stages": {s.environment.name: s.status for s in r.stage_runs.all()}}
            for r in runs_recent(app)
        ]
        if json:
            return self.json({**definition, "runs": runs})
        self.stdout.write(yaml.safe_dump(definition, sort_keys=False), ending="")
        self.say()
        self.table(["run", "version", "status", "stages", "message"],
                   [[r["run"], r["version"], r["status"], " ".join(f"{k}:{v}" for k, v in r["stages"].items()),
                     r["message"]] for r in runs],
                   title="recent runs")

    # --- runs ---

    def do_why(self, *, application, version, json, **_):
        from orbiter.pipelines.selectors import why_not_promoting

        answer = why_not_promoting(self._artifact(application, version))
        if json:
            return self.json(answer)
        self.say(answer["sentence"])
        stage = answer["details"].get("stage")
        for gate in (stage or {}).get("gates", []):
            if gate["status"] != "passed":
                self.say(f"--- gate {gate['name']} ({gate['kind']}, {gate['status']}): {gate['message']}")
                if gate["link"]:
                    self.say(f"    {gate['link']}")
                if gate["output"]:
                    self.stdout.write(gate["output"].rstrip("\n"))

    def do_approve(self, *, application, version, stage, **_):
        from orbiter.pipelines.services import pipeline_approve

        run = pipeline_approve(run=self._run(application, version), stage=stage, actor=self.actor())
        self.say(f"{run.artifact.label}: promotion to {stage} approved by {self.actor()}")

    def do_retry(self, *, application, version, **_):
        from orbiter.pipelines.services import pipeline_retry

        run = pipeline_retry(run=self._run(application, version), actor=self.actor())
        self.say(f"{run.artifact.label}: run #{run.pk} {run.status}")

    def do_decide(self, *, application, version, gate, verdict, stage, comment, **_):
        from orbiter.pipelines import states
        from orbiter.pipelines.models import GateRun
        from orbiter.pipelines.services import gate_decide

        run = self._run(application, version)
        candidates = GateRun.objects.filter(stage_run__run=run, name=gate,
                                            status__in=[states.WAITING, states.G_PAUSED])
        if stage:
            candidates = candidates.filter(stage_run__environment__name=stage)
        found = list(candidates.select_related("stage_run__environment"))
        if not found:
            raise OrbiterError(f"{run.artifact.label} has no gate {gate!r} waiting for a person"
                               + (f" at {stage}" if stage else ""))
        if len(found) > 1:
            raise ValidationError(f"--stage: gate {gate!r} waits in several stages: "
                                  + ", ".join(g.stage_run.environment.name for g in found), field="stage")
        decided = gate_decide(gate_run=found[0], passed=verdict == "pass", actor=self.actor(), comment=comment)
        self.say(f"{run.artifact.label}: gate {decided.name} {decided.message}")

    def do_start(self, *, application, version, **_):
        from orbiter.pipelines.services import pipeline_run_start

        run = pipeline_run_start(application=application, version=version, actor=self.actor())
        self.say(f"{run.artifact.label}: run #{run.pk} {run.status}{': ' + run.message if run.message else ''}")

    def do_cancel(self, *, application, version, reason, **_):
        from orbiter.pipelines.services import pipeline_run_cancel

        run = pipeline_run_cancel(run=self._run(application, version), actor=self.actor(), reason=reason)
        self.say(f"{run.artifact.label}: run #{run.pk} {run.status}")

    def do_override(self, *, application, version, environment, reason, **_):
        from orbiter.pipelines.services import stage_override_grant

        override = stage_override_grant(artifact=self._artifact(application, version), environment=environment,
                                        actor=self.actor(), reason=reason)
        self.say(f"{override.artifact.label} may be deployed to {environment} without the stages before it "
                 f"(recorded: {override.actor}: {override.reason})")

    # --- lookups ---

    def _application(self, name: str):
        from orbiter.catalog.models import Application

        app = Application.objects.filter(name=name).first()
        if app is None:
            known = ", ".join(Application.objects.values_list("name", flat=True)[:20]) or "none yet"
            raise NotFound(f"APP: unknown application {name!r}; known: {known}")
        return app

    def _artifact(self, application: str, version: str):
        from orbiter.deployments.preflight import find_artifact

        return find_artifact(self._application(application), version)

    def _run(self, application: str, version: str):
        from orbiter.pipelines.models import PipelineRun

        artifact = self._artifact(application, version)
        run = PipelineRun.objects.filter(artifact=artifact).select_related("artifact").first()
        if run is None:
            raise NotFound(f"{artifact.label} of {application} is not in the pipeline "
                           f"(see: orbiter pipeline why {application} {artifact.label})")
        return run
