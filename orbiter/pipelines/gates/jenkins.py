"""Jenkins gate: trigger a parameterized build with python-jenkins, poll it to completion,
link it, keep the tail of its console.

Options: `url` (Jenkins), `job` (folders as "folder/job"), `parameters` (name: template),
`username` and the API token by reference only — `token_env` (an environment variable of
the worker) or `token_file` — never the token itself in the pipeline definition;
`poll_interval_s` (default 5), `unstable` (`failed`, the default, or `passed`).

The queue item and build number are checkpointed on the gate run: a worker killed while
the build runs leaves them behind, and the re-run attempt polls the same build instead of
starting another one. SUCCESS passes, FAILURE fails (and UNSTABLE unless `unstable:
passed`), ABORTED / NOT_BUILT / a cancelled queue item are inconclusive: a person looks.
"""

import os
import re
import time
from pathlib import Path

import jenkins
import requests

from orbiter.common.errors import ValidationError
from orbiter.pipelines.gates.base import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    TIMEOUT,
    GateContext,
    GateDriver,
    GateResult,
    check_keys,
    check_template,
    render,
    tail,
)

_JOB = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")


class JenkinsGate(GateDriver):
    kind = "jenkins"

    @classmethod
    def validate(cls, options: dict, *, field_name: str) -> dict:
        check_keys(
            field_name, options,
            {"url", "job", "parameters", "username", "token_env", "token_file", "poll_interval_s", "unstable",
             "request_timeout_s"},
            {"url", "job"},
        )
        if not re.match(r"^https?://", str(options["url"])):
            raise ValidationError(f"{field_name}.url: give Jenkins' http:// or https:// URL", field=f"{field_name}.url")
        if not isinstance(options["job"], str) or not _JOB.match(options["job"]):
            raise ValidationError(
                f"{field_name}.job: give a job name (letters, digits, '.', '_', '-'; folders as folder/job)",
                field=f"{field_name}.job",
            )
        parameters = options.get("parameters", {})
        if not isinstance(parameters, dict):
            raise ValidationError(f"{field_name}.parameters: give a mapping NAME: value", field=f"{field_name}.parameters")
        for name, value in parameters.items():
            if not _PARAM.match(str(name)):
                raise ValidationError(f"{field_name}.parameters: {name!r} is not a valid parameter name",
                                      field=f"{field_name}.parameters")
            check_template(f"{field_name}.parameters.{name}", str(value))
        if "token_env" in options and "token_file" in options:
            raise ValidationError(f"{field_name}: give token_env or token_file, not both", field=field_name)
        if ("token_env" in options or "token_file" in options) and not options.get("username"):
            raise ValidationError(f"{field_name}.username: required with a token", field=f"{field_name}.username")
        if options.get("unstable", "failed") not in ("failed", "passed"):
            raise ValidationError(f"{field_name}.unstable: allowed: failed, passed", field=f"{field_name}.unstable")
        poll = options.get("poll_interval_s", 5)
        if not isinstance(poll, int | float) or not 0 < poll <= 300:
            raise ValidationError(f"{field_name}.poll_interval_s: give seconds between 0 and 300",
                                  field=f"{field_name}.poll_interval_s")
        return options

    def run(self, options: dict, context: GateContext) -> GateResult:
        deadline = time.monotonic() + context.timeout_s
        poll = float(options.get("poll_interval_s", 5))
        job = options["job"]
        state = dict(context.state)
        try:
            server = jenkins.Jenkins(options["url"], username=options.get("username"), password=_token(options),
                                     timeout=float(options.get("request_timeout_s", 30)))
            if "queue_item" not in state:
                values = context.variables()
                parameters = {name: render(str(v), values) for name, v in options.get("parameters", {}).items()}
                state["queue_item"] = server.build_job(job, parameters or None)
                context.save_state(state)
            while "build" not in state:
                item = server.get_queue_item(state["queue_item"])
                if item.get("cancelled"):
                    return GateResult(INCONCLUSIVE, f"Jenkins cancelled queue item {state['queue_item']} of {job}")
                executable = item.get("executable")
                if executable and executable.get("number"):
                    state.update(build=executable["number"], link=executable.get("url", ""))
                    context.save_state(state)
                    break
                if time.monotonic() > deadline:
                    return GateResult(TIMEOUT, f"{job} still queued in Jenkins after {context.timeout_s:g}s "
                                               f"({item.get('why') or 'no reason given'})")
                time.sleep(poll)
            while True:
                info = server.get_build_info(job, state["build"])
                link = info.get("url") or state.get("link", "")
                if not info.get("building") and info.get("result"):
                    break
                if time.monotonic() > deadline:
                    return GateResult(TIMEOUT, f"{job} #{state['build']} still running after {context.timeout_s:g}s",
                                      link=link)
                time.sleep(poll)
            output = _console(server, job, state["build"])
        except (jenkins.JenkinsException, requests.RequestException, OSError) as error:
            return GateResult(INCONCLUSIVE, f"Jenkins at {options['url']}: {str(error).splitlines()[0][:300]}",
                              link=state.get("link", ""))
        result = info["result"]
        message = f"{job} #{state['build']}: {result}"
        if result == "SUCCESS" or (result == "UNSTABLE" and options.get("unstable") == "passed"):
            return GateResult(PASSED, message, output=output, link=link)
        if result in ("FAILURE", "UNSTABLE"):
            return GateResult(FAILED, message, output=output, link=link)
        return GateResult(INCONCLUSIVE, message, output=output, link=link)


def _token(options: dict) -> str | None:
    if options.get("token_env"):
        value = os.environ.get(options["token_env"], "")
        if not value:
            raise OSError(f"the Jenkins token variable {options['token_env']} is not set on this worker")
        return value
    if options.get("token_file"):
        return Path(options["token_file"]).read_text().strip()
    return None


def _console(server: jenkins.Jenkins, job: str, number: int) -> str:
    try:
        return tail(server.get_build_console_output(job, number))
    except (jenkins.JenkinsException, requests.RequestException):
        return ""
