"""Every `orbiter …` and `orbiter-agent …` command docs/install.md shows — in its shell code
blocks and its inline code — exists with those arguments: each is parsed by the real
argument parser of that command (client mode's, the Django management command's,
gunicorn's, Celery's, the agent's), so the page cannot drift from the code."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

from orbiter import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "install.md"
# Commands another branch of issue 13 brings (the lead merges them): checked once they exist here.
COMING = {"apply": "h-apply (orbiter/fleet)", "inventory": "h-inventory (orbiter/inventory)"}
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def _logical_lines(block: str):
    return re.sub(r"\\\n\s*", " ", block).splitlines()


def _command(line: str) -> list[str] | None:
    """The argv of an `orbiter`/`orbiter-agent` command on this line (after VAR=value
    prefixes), or None."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:
        return None
    for end, word in enumerate(words):  # the command ends at a redirection, a pipe, `;` or `&&`
        if set(word) <= set("();<>|&"):
            words = words[:end]
            break
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]
    if (len(words) > 1 and Path(words[0]).name in ("orbiter", "orbiter-agent")
            and not words[0].startswith("/usr/local/bin") and re.fullmatch(r"[a-z][a-z-]*", words[1])):
        return [Path(words[0]).name, *words[1:]]
    return None  # prose such as "the `orbiter` user", "every `orbiter …` command"


def documented_commands() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.S | re.M):
        found += [argv for line in _logical_lines(block) if (argv := _command(line))]
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
    found += [argv for span in re.findall(r"`([^`\n]+)`", prose) if (argv := _command(span))]
    unique = {tuple(argv): argv for argv in found}
    return list(unique.values())


COMMANDS = documented_commands()


def test_the_page_shows_the_commands_of_every_step():
    shown = {" ".join(argv) for argv in COMMANDS}
    for expected in ("orbiter migrate --no-input", "orbiter createsuperuser --noinput", "orbiter keys init",
                     "orbiter users create jenkins", "orbiter tokens create --user", "orbiter login https://orbiter.example.com",
                     "orbiter apply -f fleet.yaml", "orbiter hosts assign shop-staging-02.example.com",
                     "orbiter-agent enroll --config", "orbiter agents token shop-staging-01.example.com",
                     "orbiter collectstatic --noinput"):
        assert any(command.startswith(expected) for command in shown), expected


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(argv)[:80] for argv in COMMANDS])
def test_the_documented_command_parses(argv, monkeypatch):
    program, *args = argv
    if program == "orbiter-agent":
        return _agent(args, monkeypatch)
    name, rest = args[0], args[1:]
    if name == "web":
        from gunicorn.config import Config

        Config().parser().parse_args([*rest, "orbiter.wsgi:application"])  # exits 2 on an unknown flag
        return
    if name in ("worker", "scheduler"):
        # Celery's click parser: an unknown option fails before the eager --help.
        done = subprocess.run([sys.executable, "-m", "orbiter.cli", name, *rest, "--help"], capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return
    if name in cli.CLIENT_ONLY | cli.CLIENT_OR_LOCAL:
        from orbiter.client.commands import parser

        parser().parse_args(args)
        if name in cli.CLIENT_ONLY:
            return
    commands = get_commands()
    if name not in commands:
        if name in COMING:
            pytest.skip(f"`orbiter {name}` comes with {COMING[name]}")
        pytest.fail(f"`orbiter {name}` is not a command; known: {', '.join(sorted(commands))}")
    command = load_command_class(commands[name], name)
    try:
        command.create_parser("orbiter", name).parse_args(rest)
    except CommandError as error:
        pytest.fail(f"`{' '.join(argv)}`: {error}")


def _agent(args: list[str], monkeypatch) -> None:
    """The agent's own parser, with what each subcommand would do replaced by a no-op."""
    import orbiter_agent.enroll
    from orbiter_agent import keys_cli

    called = []
    monkeypatch.setattr(keys_cli, "run", lambda *a, **k: called.append("run") or 0)
    monkeypatch.setattr(keys_cli, "keygen", lambda *a, **k: called.append("keygen") or 0)
    monkeypatch.setattr(orbiter_agent.enroll, "enroll", lambda *a, **k: called.append("enroll") or 0)
    assert keys_cli.main(args) == 0
    assert called == [args[0]]
