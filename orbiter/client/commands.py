"""Client mode's commands: the parser and one function per command. Each function takes the
parsed arguments and an Out, talks to the API, and returns the exit code (errors.py)."""

import argparse
import getpass
import os
import sys
from pathlib import Path

from orbiter.client import credentials, render, watch
from orbiter.client.errors import FAILED, INTERRUPTED, OK, REFUSED, USAGE, ClientError
from orbiter.client.http import Api, segment
from orbiter.common.errors import ValidationError
from orbiter.common.validators import slug
from orbiter.fleet.schema import KINDS  # Django-free, as this module must be

# Flag -> (strategy key, help): the same flags as the server-side commands
# (orbiter/core/management/ops.py, which needs Django; this module must not).
STRATEGY_FLAGS = {
    "--batch-size": ("batch_size", "N|N%", "hosts per batch: a number (3) or a share of the hosts (25%%)"),
    "--canary": ("canary", None, "start with a single canary host (--no-canary to turn a default off)"),
    "--canary-pause": ("canary_pause", None, "pause after the canary host until resumed"),
    "--pause-between-batches": ("pause_between_batches", "SECONDS",
                                "seconds to wait between batches, or 'until-resumed'"),
    "--failure-budget": ("failure_budget", "N|N%",
                         "hosts allowed to fail before the deployment stops: a number or a share (10%%)"),
    "--max-attempts": ("max_attempts", "N", "attempts per step for transient failures (1 to 20)"),
}
PRODUCTION_NAMES = ("production", "prod")  # as the web form's confirm_by_typing
ROLLBACK_FROM = ("succeeded", "failed", "running", "paused", "cancelled")


# --- argument types -----------------------------------------------------------------------------


def deployment_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a deployment id; give its number, e.g. 42")
    return int(text)


def name(text: str) -> str:
    try:
        return slug("name", text)
    except ValidationError as error:
        raise argparse.ArgumentTypeError(error.message.removeprefix("name: ")) from None


def whole_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give a whole number of at least 1, e.g. 20")
    return int(text)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give a number of seconds above 0, e.g. 600")
    return value


def _id_or_app(text: str) -> int | str:
    return deployment_id(text) if text.isdigit() else name(text)


# --- the commands -------------------------------------------------------------------------------


def login(args, out: render.Out) -> int:
    url = args.url or os.environ.get("ORBITER_URL", "").strip() or credentials.stored().get("url", "")
    if not url and sys.stdin.isatty():
        url = input("Orbiter URL (e.g. https://orbiter.example.com): ")
    if not url:
        raise ClientError("URL: give the server's address, e.g. orbiter login https://orbiter.example.com", USAGE)
    url = credentials.normalize_url(url)
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ClientError(f"--token-file: cannot read {args.token_file}: {error}", USAGE) from None
    else:
        token = os.environ.get("ORBITER_TOKEN", "").strip()
        if not token and sys.stdin.isatty():
            token = getpass.getpass(f"API token for {url} (orbiter tokens create, or POST /api/v1/tokens): ").strip()
    if not token:
        raise ClientError("token: give one with --token-file FILE, ORBITER_TOKEN, or type it when asked", USAGE)
    if credentials.plain_http(url):
        # As `orbiter-agent enroll` says it; loopback is spared (a trial, an SSH tunnel).
        out.note("orbiter: warning: sending the token over plain http")
    me = Api(credentials.Credentials(url, token, "the token given")).get("me")
    file = credentials.save(url, token)
    roles = ", ".join(f"{env} {role}" for env, role in (me.get("roles") or {}).items() if role) or "none"
    token_name = f" with token {me['token']}" if me.get("token") else ""
    out.say(f"logged in to {url} as {me['username']}{token_name}; roles: {roles}")
    out.say(f"credentials stored in {file} (readable by you only)")
    return OK


def logout(args, out: render.Out) -> int:
    removed = credentials.forget()
    out.say(f"removed {removed}" if removed else f"not logged in (no {credentials.path()})")
    if os.environ.get("ORBITER_TOKEN"):
        out.note("note: ORBITER_TOKEN is still set in this environment and still applies")
    return OK


def _strategy(args) -> dict:
    return {key: getattr(args, key) for key, _, _ in STRATEGY_FLAGS.values() if getattr(args, key) is not None}


def _request(args) -> dict:
    return {"application": args.application, "environment": args.env, "version": args.version,
            "strategy": _strategy(args), "queue": args.queue}


def plan(args, out: render.Out) -> int:
    found = api().post("plan", _request(args))
    if args.json:
        out.json(found)
    else:
        render.plan(out, found)
    return OK


def deploy(args, out: render.Out) -> int:
    client = api()
    _confirm(client, args)
    body = {**_request(args), "comment": args.comment}
    if args.override_freeze:
        body["override_freeze"] = args.override_freeze
    created = client.post("deployments", body)
    if created["status"] == "awaiting_approval":
        out.say(f"deployment #{created['id']} awaiting approval: {render.what(created)}; "
                f"someone other than {created['requested_by']} approves it with: orbiter approve {created['id']}")
    else:
        behind = f" (queued behind #{created['queued_behind']})" if created.get("queued_behind") else ""
        out.say(f"deployment #{created['id']} {created['status']}: {render.what(created)}{behind}")
    if args.wait:
        return watch.follow(client, created["id"], out, timeout=args.timeout)
    return OK


def _confirm(client: Api, args) -> None:
    """Production-like environments (protected, or named production/prod*) are confirmed the
    way the web form does it: type the application's name. --yes confirms for scripts."""
    if args.yes:
        return
    env = client.get(f"environments/{segment(args.env)}")
    if not (env.get("requires_approval") or args.env.startswith(PRODUCTION_NAMES)):
        return
    if not sys.stdin.isatty():
        raise ClientError(f"--yes: deploying to {args.env} needs confirmation and there is no terminal to ask; "
                          "pass --yes", USAGE)
    typed = input(f"deploying {args.application} {args.version} to {args.env}: type {args.application} "
                  "to confirm: ").strip()
    if typed != args.application:
        raise ClientError(f"not confirmed: you typed {typed!r}, not {args.application!r}; nothing was requested",
                          USAGE)


def status(args, out: render.Out) -> int:
    if args.target is None and args.wait:
        raise ClientError("--wait: give the deployment to wait for, e.g. orbiter status 42 --wait", USAGE)
    client = api()
    if args.target is None:
        if args.env:
            raise ClientError("--env: give the application too, e.g. orbiter status shop-api --env production",
                              USAGE)
        return _history(client, out, limit=args.limit, json=args.json)
    if isinstance(args.target, str):
        if not args.env:
            raise ClientError(f"--env: give the environment of {args.target}, e.g. --env production", USAGE)
        target = _latest(client, args.target, args.env)["id"]
    else:
        target = args.target
    if args.wait:
        return watch.follow(client, target, out, timeout=args.timeout)
    detail = client.get(f"deployments/{target}")
    hosts = list(client.pages(f"deployments/{target}/hosts", limit=watch.HOSTS_SHOWN))
    if args.json:
        out.json({**detail, "hosts": hosts})
    else:
        render.deployment(out, detail, hosts)
    return OK


def _latest(client: Api, application: str, environment: str, statuses=()) -> dict:
    for found in client.pages("deployments", limit=50, application=application, environment=environment,
                              status=list(statuses)):
        if not statuses or not found.get("is_rollback"):
            return found
    which = f"{'/'.join(statuses)} " if statuses else ""
    raise ClientError(f"no {which}deployment of {application} in {environment}", USAGE)


def action(args, out: render.Out) -> int:
    body = {}
    if args.command == "approve":
        body = {"comment": args.comment}
    elif args.command == "reject":
        body = {"reason": args.reason}
    client = api()
    result = client.post(f"deployments/{args.id}/{args.command}", body)
    out.say(render.sentence(result))
    if getattr(args, "wait", False):
        return watch.follow(client, args.id, out, timeout=args.timeout)
    return OK


def rollback(args, out: render.Out) -> int:
    client = api()
    if isinstance(args.target, str):
        if not args.env:
            raise ClientError(f"--env: give the environment to roll {args.target} back in, e.g. --env production",
                              USAGE)
        target = _latest(client, args.target, args.env, ROLLBACK_FROM)["id"]
    else:
        target = args.target
    body = {"reason": args.reason}
    if args.override_approval:
        body["override_approval"] = args.override_approval
    child = client.post(f"deployments/{target}/rollback", body)
    out.say(f"deployment #{child['id']} {child['status']}: rolling back #{target}, {render.what(child)}")
    if args.wait:
        return watch.follow(client, child["id"], out, timeout=args.timeout)
    return OK


def lock(args, out: render.Out) -> int:
    env = api().post(f"environments/{segment(args.env)}/lock", {"reason": args.reason})
    out.say(f"{env['name']} locked by {env.get('locked_by')}: {env.get('lock_reason')}")
    return OK


def unlock(args, out: render.Out) -> int:
    env = api().post(f"environments/{segment(args.env)}/unlock")
    out.say(f"{env['name']} unlocked")
    return OK


def history(args, out: render.Out) -> int:
    return _history(api(), out, limit=args.limit, json=args.json, application=args.application,
                    environment=args.env, status=args.status or [])


def _history(client: Api, out: render.Out, *, limit: int, json: bool, **filters) -> int:
    found = list(client.pages("deployments", limit=limit, **filters))
    if json:
        out.json(found)
    else:
        render.history(out, found)
    return OK


def apply(args, out: render.Out) -> int:
    """`orbiter apply -f PATH`: the files sent as they are (the server parses and checks them,
    naming each file in its errors); the answer is the diff."""
    from orbiter.fleet import render as fleet

    try:
        files = fleet.read_files(args.file) if args.file != "-" else [("stdin", sys.stdin.read())]
    except (OSError, UnicodeDecodeError) as error:
        raise ClientError(f"-f: cannot read {args.file}: {error}", USAGE) from None
    try:
        outcome = api().post("apply", {"files": [{"name": name, "content": text} for name, text in files],
                                       "dry_run": args.diff, "prune": args.prune})
    except ClientError as error:
        if len(error.problems) < 2 or not all(isinstance(p, dict) for p in error.problems):
            raise
        for line in fleet.problem_lines(error.problems[:-1]):  # the last one is main's
            out.error(line)
        error.message = fleet.problem_lines(error.problems[-1:])[0]
        raise
    if args.json:
        out.json(outcome)
    else:
        for line in fleet.diff_lines(outcome):
            out.say(line)
    return OK


def export(args, out: render.Out) -> int:
    from orbiter.fleet import render as fleet

    document = api().get("export", kind=args.kind or [])
    print(fleet.as_yaml(document), end="", file=out.stdout, flush=True)
    return OK


def inventory(args, out: render.Out) -> int:
    """Host sources through the API: the list, or a sync's diff (exit 1 when PuppetDB could not
    be read, as in local mode)."""
    from orbiter.inventory.render import diff_lines, source_lines

    client = api()
    if args.action == "sources":
        if args.source:
            raise ClientError("sources takes no SOURCE; orbiter inventory sources lists them all", USAGE)
        rows = list(client.pages("host-sources", limit=1000))
        if args.json:
            out.json(rows)
        else:
            for line in source_lines(rows):
                out.say(line)
        return OK
    names = [args.source] if args.source else [row["name"] for row in client.pages("host-sources", limit=1000)
                                               if row["enabled"]]
    failed, diffs = 0, []
    for source in names:
        try:
            diff = client.post(f"host-sources/{segment(source)}/sync", {"dry_run": args.dry_run})
        except ClientError as error:
            if error.code != "puppetdb_error":
                raise
            failed += 1
            out.error(f"{source}: {error.message}")
            continue
        diffs.append(diff)
        if not args.json:
            for line in diff_lines(diff):
                out.say(line)
    if args.json:
        out.json(diffs)
    return FAILED if failed else OK


def api() -> Api:
    return Api(credentials.resolve())


# --- the parser ---------------------------------------------------------------------------------


def _add_strategy(parser) -> None:
    group = parser.add_argument_group("rollout strategy (defaults: the application's rollout defaults)")
    for flag, (key, metavar, help_text) in STRATEGY_FLAGS.items():
        if metavar is None:
            group.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif key == "max_attempts":
            group.add_argument(flag, dest=key, type=whole_number, metavar=metavar, help=help_text)
        else:
            group.add_argument(flag, dest=key, metavar=metavar, help=help_text)


def _add_request(parser) -> None:
    parser.add_argument("application", type=name, metavar="APP", help="the application, e.g. shop-api")
    parser.add_argument("version", metavar="VERSION", help="version-release, e.g. 1.4.0-2")
    parser.add_argument("--env", required=True, type=name, metavar="ENV", help="the environment, e.g. production")
    parser.add_argument("--queue", action="store_true", help="queue behind a deployment in progress instead of "
                                                             "being refused")
    _add_strategy(parser)


def _add_wait(parser, what: str) -> None:
    parser.add_argument("--wait", action="store_true", help=f"follow {what} until it ends, with a live "
                                                            "progress display; the exit code says how it ended")
    parser.add_argument("--timeout", type=positive_seconds, metavar="SECONDS",
                        help="with --wait: stop waiting after this long (exit 6); the deployment carries on")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="orbiter", description="Orbiter client: talks to the server's REST API "
        "(URL and token from `orbiter login`, or ORBITER_URL and ORBITER_TOKEN).",
        epilog="exit codes: 0 succeeded or done, 1 failed, 2 usage error, 3 refused or forbidden, "
        "4 cancelled/rejected/rolled back, 5 server unreachable or authentication failed, 6 timed out waiting")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("login", help="store the server's URL and your API token (checked first)")
    p.add_argument("url", nargs="?", metavar="URL", help="e.g. https://orbiter.example.com (default: ORBITER_URL)")
    p.add_argument("--token-file", metavar="FILE", help="read the token from FILE (default: ORBITER_TOKEN, "
                                                         "else asked for without echo)")
    p.set_defaults(run=login)
    commands.add_parser("logout", help="forget the stored URL and token").set_defaults(run=logout)

    p = commands.add_parser("plan", help="preflight and plan (batches, load-balancer actions, ETA); moves nothing")
    _add_request(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=plan)

    p = commands.add_parser("deploy", help="request a deployment")
    _add_request(p)
    p.add_argument("--comment", default="", metavar="TEXT", help="why (shown in history and audit)")
    p.add_argument("--yes", action="store_true", help="confirm a production-like environment without asking")
    p.add_argument("--override-freeze", default="", metavar="REASON",
                   help="admins: deploy through an open freeze window (recorded)")
    _add_wait(p, "the deployment")
    p.set_defaults(run=deploy)

    p = commands.add_parser("status", help="a deployment and its hosts; without ID the latest deployments")
    p.add_argument("target", nargs="?", type=_id_or_app, metavar="ID|APP",
                   help="a deployment's number, or an application (with --env: its latest deployment there)")
    p.add_argument("--env", type=name, metavar="ENV", help="with APP: the environment")
    p.add_argument("--limit", type=whole_number, default=20, metavar="N", help="without ID: how many (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_wait(p, "the deployment")
    p.set_defaults(run=status)

    for verb, doc in (("pause", "pause: hosts in flight finish their step, no new ones start"),
                      ("resume", "resume a paused deployment"),
                      ("cancel", "cancel: hosts in flight finish safely, the rest are skipped"),
                      ("retry", "give failed and skipped hosts another round"),
                      ("approve", "approve a deployment awaiting approval (not your own)"),
                      ("reject", "reject a deployment awaiting approval")):
        p = commands.add_parser(verb, help=doc)
        p.add_argument("id", type=deployment_id, metavar="ID", help="the deployment's number")
        if verb == "approve":
            p.add_argument("--comment", default="", metavar="TEXT")
        if verb == "reject":
            p.add_argument("--reason", default="", metavar="TEXT")
        if verb in ("resume", "retry", "approve"):
            _add_wait(p, "the deployment")
        p.set_defaults(run=action)

    p = commands.add_parser("rollback", help="roll a deployment back (answers the rollback deployment)")
    p.add_argument("target", type=_id_or_app, metavar="ID|APP",
                   help="a deployment's number, or an application with --env (its latest deployment there)")
    p.add_argument("--env", type=name, metavar="ENV", help="with APP: the environment")
    p.add_argument("--reason", default="", metavar="TEXT")
    p.add_argument("--override-approval", default="", metavar="REASON",
                   help="admins, where deployments need approval: start the rollback without it (recorded)")
    _add_wait(p, "the rollback")
    p.set_defaults(run=rollback)

    p = commands.add_parser("lock", help="lock an environment: nothing starts there until unlocked (admin)")
    p.add_argument("env", type=name, metavar="ENV")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (shown to whoever is refused)")
    p.set_defaults(run=lock)
    p = commands.add_parser("unlock", help="unlock an environment (admin)")
    p.add_argument("env", type=name, metavar="ENV")
    p.set_defaults(run=unlock)

    p = commands.add_parser("apply", help="apply fleet files (docs/fleet.md); admins of every environment")
    p.add_argument("-f", "--file", required=True, metavar="PATH",
                   help="a YAML file, a directory of *.yaml/*.yml files, or - for stdin")
    p.add_argument("--diff", action="store_true", help="show what would change; change nothing")
    p.add_argument("--prune", action="store_true",
                   help="delete objects of the kinds the files name that they do not list")
    p.add_argument("--json", action="store_true", help="print the diff as JSON")
    p.set_defaults(run=apply)

    p = commands.add_parser("export", help="print the catalog as a fleet file (admins of every environment)")
    p.add_argument("--kind", action="append", metavar="KIND",
                   choices=KINDS, help="only these kinds (repeatable)")
    p.set_defaults(run=export)

    p = commands.add_parser("history", help="deployments, newest first")
    p.add_argument("application", nargs="?", type=name, metavar="APP")
    p.add_argument("--env", type=name, metavar="ENV")
    p.add_argument("--status", action="append", metavar="STATUS",
                   choices=["pending", "awaiting_approval", "queued", "running", "paused", "succeeded", "failed",
                            "cancelled", "rejected", "rolling_back", "rolled_back"],
                   help="only these (repeatable)")
    p.add_argument("--limit", type=whole_number, default=20, metavar="N", help="how many (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=history)

    p = commands.add_parser("inventory", help="hosts from PuppetDB: sources, or sync [SOURCE] [--dry-run] (admin)")
    p.add_argument("action", choices=["sources", "sync"])
    p.add_argument("source", nargs="?", type=name, metavar="SOURCE",
                   help="with sync: the source (default: every enabled one)")
    p.add_argument("--dry-run", action="store_true", help="with sync: print the diff, change nothing")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=inventory)
    return top


def main(argv: list[str], *, out: render.Out | None = None) -> int:
    args = parser().parse_args(argv)  # usage errors exit 2 here, with argparse's message
    out = out or render.Out()
    try:
        if getattr(args, "timeout", None) is not None and not args.wait:
            raise ClientError("--timeout: only meaningful with --wait", USAGE)
        return args.run(args, out)
    except ClientError as error:
        shown = _name_the_flag(error.message)
        if error.exit_code == REFUSED and error.code and error.code not in ("forbidden", "refused"):
            shown = f"{shown} (code: {error.code})"
        out.error(shown)
        return error.exit_code
    except KeyboardInterrupt:
        out.note("interrupted")
        return INTERRUPTED


def _name_the_flag(message: str) -> str:
    """'strategy.batch_size: ...' -> '--batch-size: ...': the flag the user typed."""
    for flag, (key, _, _) in STRATEGY_FLAGS.items():
        for field in (f"strategy.{key}:", f"{key}:"):
            if message.startswith(field):
                return flag + ":" + message[len(field):]
    return message
