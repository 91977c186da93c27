"""Converge by running a command on the control plane: for fleets driven by a script (an ssh
wrapper, a container restart) rather than the node agent, and for the zero-downtime lab,
where the command restarts a backend at the new version.

Options:
  command    required: the argument list, `command[0]` an absolute path. `{certname}`,
             `{version}`, `{package}` and `{application}` are substituted inside each
             argument; no shell is involved, so a value can never become a second command
  timeout_s  bound on one run, default: the request's converge timeout (at most 3600)

Exit status 0 is success; any other status, a timeout or a command that cannot start is a
transient failure (the engine retries with backoff), its message the last line of the
command's output. The command runs in a thread of the process that sent the request and its
result is recorded with `converge_results_record`, like an agent's reply. If that process
dies, the step's deadline re-sends the same request id, and the command runs again: it must
be idempotent (converging twice to one version changes nothing), as a Puppet run is.
Values are checked before substitution: certname a DNS name, version, package and
application without spaces or a leading '-' (never taken for an option).
"""

import logging
import os
import re
import subprocess
import threading

from django.db import close_old_connections, connection

from orbiter.common import validators
from orbiter.common.errors import ValidationError
from orbiter.converge.base import ConvergeDriver, ConvergeRequest, ConvergeResult

log = logging.getLogger("orbiter.converge.command")
MAX_TIMEOUT_S = 3600.0
OUTPUT_TAIL = 4000
_VALUE = re.compile(r"^[A-Za-z0-9._+~:^][A-Za-z0-9._+~:^-]{0,199}$")
PLACEHOLDERS = ("certname", "version", "package", "application")


class CommandConverge(ConvergeDriver):
    name = "command"

    def __init__(self, options: dict):
        super().__init__(options)
        if unknown := sorted(set(options) - {"command", "timeout_s"}):
            raise _invalid(unknown[0], "is not an option of the command converge driver; allowed: command, timeout_s")
        command = options.get("command")
        if (not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command)
                or not os.path.isabs(command[0])):
            raise _invalid("command", "must be a list of arguments whose first is an absolute path, "
                                      'e.g. ["/usr/local/bin/restart-app", "{certname}", "{version}"]')
        self.command = list(command)
        timeout = options.get("timeout_s")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                    or not 0 < timeout <= MAX_TIMEOUT_S):
            raise _invalid("timeout_s", f"must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}")
        self.timeout_s = timeout

    def send(self, requests: list[ConvergeRequest]) -> None:
        for request in requests:
            threading.Thread(target=self._run_and_record, args=(request,), daemon=True,
                             name=f"converge-{request.request_id}").start()

    def arguments(self, request: ConvergeRequest) -> list[str]:
        validators.certname("certname", request.certname)
        values = {"certname": request.certname, "version": request.version, "package": request.package,
                  "application": request.application}
        for name, value in values.items():
            if not _VALUE.match(value):
                raise ValidationError(f"{name}: {value!r} cannot be passed to a command", field=name)
        args = []
        for arg in self.command:
            for name in PLACEHOLDERS:
                arg = arg.replace("{" + name + "}", values[name])
            args.append(arg)
        return args

    def run(self, request: ConvergeRequest) -> ConvergeResult:
        timeout = float(self.timeout_s or request.timeout_s)
        try:
            args = self.arguments(request)
        except ValidationError as error:
            return ConvergeResult(request.request_id, ok=False, permanent=True, message=error.message)
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,  # noqa: S603 (list, checked)
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as expired:
            output = _text(expired.stdout) + _text(expired.stderr)
            return ConvergeResult(request.request_id, ok=False, message=f"command timed out after {timeout:g}s",
                                  log_tail=output[-OUTPUT_TAIL:])
        except OSError as error:
            return ConvergeResult(request.request_id, ok=False, message=f"command could not start: {error}")
        output = (done.stdout or "") + (done.stderr or "")
        last = output.strip().splitlines()[-1] if output.strip() else ""
        if done.returncode == 0:
            return ConvergeResult(request.request_id, ok=True, message=last or "converged",
                                  summary={"exit_code": 0}, log_tail=output[-OUTPUT_TAIL:])
        return ConvergeResult(request.request_id, ok=False,
                              message=f"command exited with {done.returncode}" + (f": {last}" if last else ""),
                              summary={"exit_code": done.returncode}, log_tail=output[-OUTPUT_TAIL:])

    def _run_and_record(self, request: ConvergeRequest) -> None:
        from orbiter.converge.services import converge_results_record

        result = self.run(request)
        close_old_connections()
        try:
            converge_results_record([result])
        except Exception:  # the step's deadline re-sends the request
            log.exception("converge %s: recording the result failed", request.request_id)
        finally:
            connection.close()


def _invalid(option: str, problem: str) -> ValidationError:
    return ValidationError(f"command converge driver: option `{option}` {problem}", field=f"options.{option}")


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
