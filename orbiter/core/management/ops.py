"""What the deployment operations commands share (plan, deploy, status, pause, resume,
cancel, retry, rollback, approve, reject).

They act on the configured database through the deployment services and selectors, the
same calls the UI and the API make. Exit codes scripts can rely on:

    0  done (a waited deployment succeeded)
    1  a waited deployment ended failed, cancelled, rejected or rolled back
    2  refused or invalid: the reason on stderr as "error: <message>" (a refused request
       also names its code); argparse errors (an unknown flag, a bad flag value) exit 2 too
    3  --wait gave up after --timeout; the deployment carries on
    130 interrupted (Ctrl-C) while waiting; the deployment carries on

Output is plain text, one record a line, when piped; tables are drawn with rich on a terminal.
In JSON output batches are numbered from 1, as everywhere else a user reads them.
"""

import argparse
import getpass
import io
import json
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.management.base import BaseCommand
from django.db.models import Count

from orbiter.client.commands import positive_seconds  # noqa: F401 (one definition, Django-free)
from orbiter.client.render import describe_strategy  # noqa: F401
from orbiter.common.errors import OrbiterError, PreflightRefused, ValidationError
from orbiter.deployments import states
from orbiter.deployments.models import Deployment, HostDeployment

# Exit codes.
OK, UNSUCCESSFUL, REFUSED, TIMED_OUT, INTERRUPTED = 0, 1, 2, 3, 130

# How often --wait looks at the deployment, and how it sleeps (tests swap in a function
# that runs the in-memory task queue meanwhile).
POLL_SECONDS = 0.5
sleep = time.sleep

# Strategy flags: flag -> (strategy key, help). Only the flags given are passed on; the
# application's rollout defaults fill in the rest.
STRATEGY_FLAGS = {
    "--batch-size": ("batch_size", "hosts per batch: a number (3) or a share of the hosts (25%%)"),
    "--canary": ("canary", "start with a single canary host (--no-canary to turn a default off)"),
    "--canary-pause": ("canary_pause", "pause after the canary host until resumed"),
    "--pause-between-batches": (
        "pause_between_batches", "seconds to wait between batches, or 'until-resumed'",
    ),
    "--failure-budget": (
        "failure_budget", "hosts allowed to fail before the deployment stops: a number or a share (10%%)",
    ),
    "--max-attempts": ("max_attempts", "attempts per step for transient failures (1 to 20)"),
}
_BOOLEAN_FLAGS = {"--canary", "--canary-pause"}
_METAVARS = {"batch_size": "N|N%", "pause_between_batches": "SECONDS", "failure_budget": "N|N%"}


# --- argument types ---------------------------------------------------------------------------


def deployment_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a deployment id; give its number, e.g. 42")
    return int(text)


def whole_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give a whole number of at least 1, e.g. 3")
    return int(text)


def add_request_arguments(parser) -> None:
    """APP VERSION --env ENV and the strategy flags: what plan and deploy both take."""
    parser.add_argument("application", metavar="APP", help="the application, e.g. shop-api")
    parser.add_argument("version", metavar="VERSION", help="version-release to deploy, e.g. 1.4.0-2")
    parser.add_argument("--env", required=True, metavar="ENV", help="the environment, e.g. production")
    add_strategy_arguments(parser)


def add_strategy_arguments(parser) -> None:
    group = parser.add_argument_group("rollout strategy (defaults: the application's rollout defaults)")
    for flag, (key, help_text) in STRATEGY_FLAGS.items():
        if flag in _BOOLEAN_FLAGS:
            group.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif key == "max_attempts":
            group.add_argument(flag, dest=key, type=whole_number, metavar="N", help=help_text)
        else:
            group.add_argument(flag, dest=key, metavar=_METAVARS[key], help=help_text)


def strategy_from_options(options: dict) -> dict:
    """The strategy keys of the flags that were given."""
    return {key: options[key] for key, _ in STRATEGY_FLAGS.values() if options.get(key) is not None}


def add_actor_argument(parser) -> None:
    parser.add_argument("--as", dest="actor", metavar="NAME",
                        help="who is asking (default: $ORBITER_USER, else your login name)")


def local_actor(given: str | None) -> str:
    """Who acts in local mode, the one rule every command follows: `--as`, else
    $ORBITER_USER, else the login name. Local mode is as trusted as access to the database;
    the name is what the audit trail records, so it is never a made-up default."""
    if given is not None:
        if not given.strip():
            raise ValidationError("--as: give a name, e.g. --as alice", field="as")
        return given.strip()
    name = os.environ.get("ORBITER_USER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise ValidationError("cannot tell who you are; pass --as NAME or set ORBITER_USER", field="as") from None


# --- the base command -------------------------------------------------------------------------


class OpsCommand(BaseCommand):
    """Runs `run()`; turns Orbiter's refusals into "error: ..." on stderr and exit code 2."""

    requires_system_checks = []

    def handle(self, *args, **options):
        self.options = options
        try:
            code = self.run(**options)
        except OrbiterError as error:
            self.fail(self.describe_error(error), REFUSED)
        if code:
            raise SystemExit(code)

    def run(self, **options) -> int | None:  # pragma: no cover - every command defines it
        raise NotImplementedError

    # --- helpers the commands use ---

    def fail(self, message: str, code: int = REFUSED):
        self.stderr.write(f"error: {message}")
        raise SystemExit(code)

    def describe_error(self, error: OrbiterError) -> str:
        message = error.message
        field = error.extra.get("field") if isinstance(error, ValidationError) else None
        flag = _flag_of(field)
        if flag and self.options.get(field) is not None and message.startswith(f"{field}:"):
            message = flag + message[len(field):]  # name the flag the user typed
        if isinstance(error, PreflightRefused):
            message = f"{message} (code: {error.code})"
        return message

    def actor(self) -> str:
        try:
            return local_actor(self.options.get("actor"))
        except ValidationError as error:
            self.fail(error.message)

    def say(self, line: str = "") -> None:
        self.stdout.write(line)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence], *, title: str = "") -> None:
        text = render_table(headers, rows, terminal=self.stdout.isatty(), title=title,
                            color=not self.options.get("no_color"))
        self.stdout.write(text, ending="")

    def json(self, data) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=_json_default))


def _flag_of(key: str | None) -> str | None:
    for flag, (strategy_key, _) in STRATEGY_FLAGS.items():
        if strategy_key == key:
            return flag
    return None


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- rendering --------------------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Iterable[Sequence], *, terminal: bool, title: str = "",
                 color: bool = True) -> str:
    """A rich table on a terminal; plain columns (two spaces apart, "-" for empty) when piped."""
    rows = [[_cell(value) for value in row] for row in rows]
    if terminal:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        buffer = io.StringIO()
        width = shutil.get_terminal_size((120, 24)).columns
        console = Console(file=buffer, force_terminal=True, width=width, highlight=False, no_color=not color)
        table = Table(*headers, title=title or None, box=box.SIMPLE_HEAD, title_justify="left")
        for row in rows:
            table.add_row(*[value if value != "-" else "" for value in row])
        console.print(table)
        return buffer.getvalue()
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = [title] if title else []
    for row in [list(headers), *rows]:
        lines.append("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    return " ".join(str(value).split())  # one line per record, whatever the message holds


def human_duration(seconds: float) -> str:
    """75 -> 'about 1 min 15 s'; 3600 -> 'about 1 h'."""
    total = round(seconds)
    if total < 1:
        return "under 1 s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    return "about " + " ".join(parts)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else ""


def status_label(deployment: Deployment) -> str:
    if deployment.cancel_requested and deployment.status in (states.RUNNING, states.PAUSED):
        return "cancelling"
    return deployment.status


def status_sentence(deployment: Deployment) -> str:
    """'deployment #5 paused by alice; ...' or 'deployment #5 running: resumed by alice'."""
    label = status_label(deployment)
    message = deployment.message.strip()
    if not message or message == label:
        return f"deployment #{deployment.pk} {label}"
    if message.startswith(label) or message.startswith(deployment.status):
        return f"deployment #{deployment.pk} {message}"
    return f"deployment #{deployment.pk} {label}: {message}"


def load(deployment_pk: int) -> Deployment:
    from orbiter.common.errors import NotFound

    deployment = (
        Deployment.objects.select_related("application", "environment", "artifact")
        .filter(pk=deployment_pk)
        .first()
    )
    if deployment is None:
        raise NotFound(f"deployment #{deployment_pk} does not exist")
    return deployment


def host_counts(deployment_pk: int) -> dict[str, int]:
    return dict(
        HostDeployment.objects.filter(deployment_id=deployment_pk)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def progress(deployment: Deployment, counts: dict[str, int]) -> str:
    """One line: status, batch k/n, done / in flight / failed, message."""
    parts = []
    if deployment.plan:
        batch = max(deployment.current_batch + 1, 0)
        parts.append(f"batch {batch}/{len(deployment.plan)}")
    if counts:
        inflight = sum(counts.get(s, 0) for s in states.IN_FLIGHT)
        parts.append(
            f"{counts.get(states.DONE, 0)} done, {inflight} in flight, {counts.get(states.H_FAILED, 0)} failed"
        )
        if counts.get(states.SKIPPED):
            parts.append(f"{counts[states.SKIPPED]} skipped")
    line = f"#{deployment.pk} {status_label(deployment)}"
    if parts:
        line += ": " + ", ".join(parts)
    message = " ".join(deployment.message.split())
    if message and message != status_label(deployment):
        line += f" - {message}"
    return line


def follow(command: OpsCommand, deployment_pk: int, *, timeout: float | None) -> int:
    """Print a line per change until the deployment completes; the exit code it deserves."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    try:
        while True:
            deployment = load(deployment_pk)
            line = progress(deployment, host_counts(deployment_pk))
            if line != last:
                command.say(f"{datetime.now():%H:%M:%S} {line}")
                last = line
            if deployment.status in states.COMPLETED:
                break
            if deadline is not None and time.monotonic() >= deadline:
                command.stderr.write(
                    f"error: gave up waiting after {timeout:g} s; deployment #{deployment_pk} is still "
                    f"{status_label(deployment)} and carries on (orbiter status {deployment_pk})"
                )
                return TIMED_OUT
            pause = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
            sleep(pause)
    except KeyboardInterrupt:
        command.stderr.write(f"stopped waiting; deployment #{deployment_pk} carries on (orbiter status {deployment_pk})")
        return INTERRUPTED
    if deployment.status == states.SUCCEEDED:
        command.say(status_sentence(deployment))
        return OK
    command.stderr.write(status_sentence(deployment))
    return UNSUCCESSFUL


# --- the simple actions -----------------------------------------------------------------------


class ActionCommand(OpsCommand):
    """pause, resume, cancel, retry, approve: `orbiter <action> ID [--as NAME]`."""

    action = ""

    def add_arguments(self, parser):
        parser.add_argument("id", type=deployment_id, metavar="ID", help="the deployment's number")
        add_actor_argument(parser)

    def run(self, *, id, **options):
        from orbiter.deployments import services

        service = getattr(services, f"deployment_{self.action}")
        service(deployment_id=id, actor=self.actor(), **self.service_options(options))
        self.say(status_sentence(load(id)))
        return OK

    def service_options(self, options: dict) -> dict:
        return {}
