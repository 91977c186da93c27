"""HTTP gate: GET a URL and check the status and, optionally, the body.

Options: `url` (placeholders allowed; with `{certname}` every host of the stage that runs
the application is checked, and all must pass), `expected_status` (a code or a list,
default 200), `body_regex` (placeholder values are matched literally), `request_timeout_s`
(default 10). A connection refused or a wrong answer fails the attempt; a request that
times out is inconclusive. Retries are the gate's `retries`.
"""

import re

import requests

from orbiter.common.errors import ValidationError
from orbiter.pipelines.gates.base import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    VARIABLES,
    GateContext,
    GateDriver,
    GateResult,
    check_keys,
    check_template,
    render,
    tail,
)


class HttpGate(GateDriver):
    kind = "http"

    @classmethod
    def validate(cls, options: dict, *, field_name: str) -> dict:
        check_keys(field_name, options, {"url", "expected_status", "body_regex", "request_timeout_s"}, {"url"})
        url = check_template(f"{field_name}.url", options["url"], extra=("certname",))
        if not re.match(r"^(https?://|\{stage_url\})", url):
            raise ValidationError(f"{field_name}.url: give an http:// or https:// URL", field=f"{field_name}.url")
        expected = options.get("expected_status", 200)
        codes = expected if isinstance(expected, list) else [expected]
        if not codes or not all(isinstance(c, int) and 100 <= c <= 599 for c in codes):
            raise ValidationError(
                f"{field_name}.expected_status: give an HTTP status (100-599) or a list of them",
                field=f"{field_name}.expected_status",
            )
        if "body_regex" in options:
            check_template(f"{field_name}.body_regex", options["body_regex"], extra=("certname",))
            try:
                re.compile(render(options["body_regex"], dict.fromkeys((*VARIABLES, "certname"), "x")))
            except re.error as error:
                raise ValidationError(f"{field_name}.body_regex: {error}", field=f"{field_name}.body_regex") from None
        timeout = options.get("request_timeout_s", 10)
        if not isinstance(timeout, int | float) or not 0 < timeout <= 600:
            raise ValidationError(
                f"{field_name}.request_timeout_s: give seconds between 0 and 600",
                field=f"{field_name}.request_timeout_s",
            )
        return {**options, "expected_status": codes}

    def run(self, options: dict, context: GateContext) -> GateResult:
        values = context.variables()
        per_host = "{certname}" in options["url"]
        targets = context.hosts if per_host else [""]
        if per_host and not targets:
            return GateResult(FAILED, f"no hosts run {context.application} in {context.environment}")
        lines, failures = [], []
        timeout = min(float(options.get("request_timeout_s", 10)), context.timeout_s)
        for certname in targets:
            host_values = {**values, "certname": certname}
            url = render(options["url"], host_values)
            try:
                response = requests.get(url, timeout=timeout, allow_redirects=False)
            except requests.Timeout:
                return GateResult(INCONCLUSIVE, f"GET {url}: no answer within {timeout:g}s", output="\n".join(lines))
            except requests.RequestException as error:
                failures.append(f"GET {url}: {_reason(error)}")
                lines.append(failures[-1])
                continue
            problem = _check(response, options, host_values)
            lines.append(f"GET {url} → {response.status_code}{': ' + problem if problem else ''}")
            if problem:
                failures.append(f"GET {url}: {problem}")
                lines.append(tail(response.text, 2000))
        output = tail("\n".join(lines))
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            return GateResult(FAILED, failures[0] + more, output=output)
        return GateResult(PASSED, f"{len(targets)} URL(s) answered as expected", output=output)


def _check(response: requests.Response, options: dict, values: dict) -> str:
    if response.status_code not in options["expected_status"]:
        return f"status {response.status_code}, expected {' or '.join(map(str, options['expected_status']))}"
    if options.get("body_regex"):
        pattern = render(options["body_regex"], values, escape=re.escape)
        if not re.search(pattern, response.text):
            return f"body does not match {pattern!r}"
    return ""


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.ConnectionError):
        return "connection failed (" + str(error).split("(Caused by ")[-1].rstrip(")").strip()[:200] + ")"
    return str(error)[:300]
