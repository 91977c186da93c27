"""Command gate: run a program (an argument list, never a shell string) with the stage's
details in its environment; exit 0 passes.

Options: `command` (list of strings, placeholders allowed), `env` (extra variables),
`cwd`, `output_regex` (the output must also match, e.g. a browser's dumped DOM must show
the version), `inconclusive_exit_codes` (e.g. [75]: the test could not run, ask a person).

The child gets only PATH, HOME, LANG, TMPDIR, the ORBITER_* gate variables and `env`:
never the worker's own environment, which holds the database URL and secrets.
"""

import os
import re
import signal
import subprocess
import tempfile

from orbiter.common.errors import ValidationError
from orbiter.pipelines.gates.base import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    TIMEOUT,
    VARIABLES,
    GateContext,
    GateDriver,
    GateResult,
    check_keys,
    check_template,
    render,
    tail,
)

_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


class CommandGate(GateDriver):
    kind = "command"

    @classmethod
    def validate(cls, options: dict, *, field_name: str) -> dict:
        check_keys(field_name, options, {"command", "env", "cwd", "output_regex", "inconclusive_exit_codes"},
                   {"command"})
        command = options["command"]
        if not isinstance(command, list) or not command:
            raise ValidationError(
                f"{field_name}.command: give the program and its arguments as a list, e.g. [./smoke-test, --fast]",
                field=f"{field_name}.command",
            )
        for i, arg in enumerate(command):
            check_template(f"{field_name}.command[{i}]", arg)
        env = options.get("env", {})
        if not isinstance(env, dict):
            raise ValidationError(f"{field_name}.env: give a mapping NAME: value", field=f"{field_name}.env")
        for name, value in env.items():
            if not _ENV_NAME.match(str(name)) or name.startswith("ORBITER_"):
                raise ValidationError(
                    f"{field_name}.env: {name!r} is not allowed; use upper-case letters, digits and '_', "
                    "not starting with ORBITER_", field=f"{field_name}.env",
                )
            check_template(f"{field_name}.env.{name}", str(value))
        if "cwd" in options:
            check_template(f"{field_name}.cwd", options["cwd"])
        if "output_regex" in options:
            check_template(f"{field_name}.output_regex", options["output_regex"])
            try:
                re.compile(render(options["output_regex"], dict.fromkeys(VARIABLES, "x")))
            except re.error as error:
                raise ValidationError(f"{field_name}.output_regex: {error}", field=f"{field_name}.output_regex") from None
        codes = options.get("inconclusive_exit_codes", [])
        if not isinstance(codes, list) or not all(isinstance(c, int) and 0 < c < 256 for c in codes):
            raise ValidationError(
                f"{field_name}.inconclusive_exit_codes: give a list of exit codes from 1 to 255",
                field=f"{field_name}.inconclusive_exit_codes",
            )
        return options

    def run(self, options: dict, context: GateContext) -> GateResult:
        values = context.variables()
        argv = [render(arg, values) for arg in options["command"]]
        env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        env.update(context.environ())
        env.update({name: render(str(value), values) for name, value in options.get("env", {}).items()})
        cwd = render(options["cwd"], values) if options.get("cwd") else None
        with tempfile.TemporaryFile() as out:
            try:
                process = subprocess.Popen(  # noqa: S603 - an argument list from the pipeline definition
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                    start_new_session=True,
                )
            except OSError as error:
                return GateResult(FAILED, f"cannot run {argv[0]}: {error.strerror or error}")
            try:
                code = process.wait(timeout=context.timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                return GateResult(TIMEOUT, f"{argv[0]} did not finish within {context.timeout_s:g}s; stopped it",
                                  output=_read_tail(out))
            output = _read_tail(out)
        if code in options.get("inconclusive_exit_codes", []):
            return GateResult(INCONCLUSIVE, f"{argv[0]} exited {code} (inconclusive)", output=output)
        if code != 0:
            return GateResult(FAILED, f"{argv[0]} exited {code}", output=output)
        if options.get("output_regex"):
            pattern = render(options["output_regex"], values, escape=re.escape)
            if not re.search(pattern, output):
                return GateResult(FAILED, f"{argv[0]} exited 0 but its output does not match {pattern!r}",
                                  output=output)
        return GateResult(PASSED, f"{argv[0]} exited 0", output=output)


def _kill_group(process: subprocess.Popen) -> None:
    """Stop the command and everything it started (a browser, a test runner's children)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _read_tail(out) -> str:
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - 4 * 16_000))
    return tail(out.read().decode("utf-8", errors="replace"))
