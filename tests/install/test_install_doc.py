"""Every `orbiter …` and `orbiter-agent …` command docs/install.md (and the README's "Run it
for real") shows — in shell code blocks and inline code — exists with those arguments: each is parsed by the real
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
README = DOC.parents[1] / "README.md"
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


def _pages() -> str:
    """docs/install.md, and the README's "Run it for real" section that sums it up."""
    readme = README.read_text(encoding="utf-8")
    start = readme.index("## Run it for real")
    end = readme.index("\n## ", start + 1)
    return DOC.read_text(encoding="utf-8") + "\n" + readme[start:end]


def documented_commands() -> list[tuple[list[str], bool]]:
    """(argv, inline) of each command: from a code block (inline False: run as shown, so it
    must parse whole) or from inline code in the prose (a mention, which may leave out a
    required argument: its subcommand, choices and flags must still exist)."""
    text = _pages()
    found = {}
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`\n]+)`", prose):
        if argv := _command(span):
            found[tuple(argv)] = (argv, True)
    for block in re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.S | re.M):
        for line in _logical_lines(block):
            if argv := _command(line):
                found[tuple(argv)] = (argv, False)
    return list(found.values())


COMMANDS = documented_commands()


def test_the_page_shows_the_commands_of_every_step():
    shown = {" ".join(argv) for argv, inline in COMMANDS if not inline}
    for expected in ("orbiter migrate --no-input", "orbiter createsuperuser --noinput", "orbiter keys init",
                     "orbiter users create jenkins", "orbiter tokens create --user",
                     "orbiter login https://orbiter.example.com", "orbiter apply -f fleet.yaml",
                     "orbiter hosts assign shop-staging-02.example.com", "orbiter-agent enroll --config",
                     "orbiter agents token shop-staging-01.example.com"):
        assert any(command.startswith(expected) for command in shown), expected
    assert "orbiter collectstatic --noinput" in {" ".join(argv) for argv, _ in COMMANDS}


@pytest.mark.parametrize("argv, inline", COMMANDS,
                         ids=[("`" if inline else "") + " ".join(argv)[:80] for argv, inline in COMMANDS])
def test_the_documented_command_parses(argv, inline, monkeypatch, capsys):
    try:
        _parse(argv, monkeypatch)
    except (SystemExit, CommandError) as refusal:
        if isinstance(refusal, SystemExit) and refusal.code in (0, None):
            return
        said = str(refusal) if isinstance(refusal, CommandError) else capsys.readouterr().err
        if inline and "the following arguments are required" in said:
            return  # a mention of the command, not a line to run
        pytest.fail(f"`{' '.join(argv)}` does not parse: {said.strip()[-1000:]}")


def _parse(argv: list[str], monkeypatch) -> None:
    program, *args = argv
    if program == "orbiter-agent":
        return _agent(args, monkeypatch)
    name, rest = args[0], args[1:]
    if name == "web":
        from gunicorn.config import Config

        Config().parser().parse_args([*rest, "orbiter.wsgi:application"])  # exits 2 on an unknown flag
        return None
    if name in ("worker", "scheduler"):
        # Celery's click parser: an unknown option fails before the eager --help.
        done = subprocess.run([sys.executable, "-m", "orbiter.cli", name, *rest, "--help"], capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return None
    if name in cli.CLIENT_ONLY | cli.CLIENT_OR_LOCAL:
        from orbiter.client.commands import parser

        parser().parse_args(args)
        if name in cli.CLIENT_ONLY:
            return None
    commands = get_commands()
    if name not in commands:
        if name in COMING:
            pytest.skip(f"`orbiter {name}` comes with {COMING[name]}")
        pytest.fail(f"`orbiter {name}` is not a command; known: {', '.join(sorted(commands))}")
    load_command_class(commands[name], name).create_parser("orbiter", name).parse_args(rest)
    return None


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


@pytest.mark.parametrize("page", ["docs/install.md", "README.md"])
def test_the_fleet_file_shown_is_valid_fleet_yaml(page):
    try:
        from orbiter.fleet import documents
    except ImportError:
        pytest.skip(f"the fleet format comes with {COMING['apply']}")
    text = (DOC.parents[1] / page).read_text(encoding="utf-8")
    [example] = re.findall(r"^```yaml\n(.*?)^```", text[text.index("## Run it for real"):] if page == "README.md"
                           else text, flags=re.S | re.M)[:1]
    for document in documents.parse_text(example, page):
        documents.check(document)  # raises, naming the path, on anything the schema refuses
