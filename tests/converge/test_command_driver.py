"""The command converge driver runs its argument list (no shell) with the request's values
substituted, and turns the exit status into a result."""

import sys

import pytest

from orbiter.common.errors import ValidationError
from orbiter.converge.base import ConvergeRequest, registry

SCRIPT = "import sys; print('converged', *sys.argv[1:]); sys.exit(int(sys.argv[-1]) if sys.argv[-1].isdigit() else 0)"


def request(**overrides):
    fields = {"request_id": "d1-h1-r1-a1", "certname": "web01.example.net", "application": "shop-api",
              "package": "shop-api", "version": "1.1.0-1", "timeout_s": 30}
    return ConvergeRequest(**{**fields, **overrides})


def driver(*args, **options):
    return registry.get("command")({"command": [sys.executable, "-c", SCRIPT, *args], **options})


def test_it_runs_the_command_with_the_values_substituted():
    result = driver("{certname}", "{package}-{version}").run(request())
    assert result.ok and result.request_id == "d1-h1-r1-a1"
    assert result.message == "converged web01.example.net shop-api-1.1.0-1"


def test_a_value_cannot_smuggle_a_shell_command_or_an_option():
    d = driver("{version}")
    with pytest.raises(ValidationError, match="version"):
        d.arguments(request(version="1.0; rm -rf /"))
    with pytest.raises(ValidationError, match="version"):
        d.arguments(request(version="--force"))
    result = d.run(request(certname="web01;reboot"))
    assert not result.ok and result.permanent and "certname" in result.message


def test_a_non_zero_exit_is_a_transient_failure_with_the_last_output_line():
    result = driver("3").run(request())
    assert not result.ok and not result.permanent
    assert result.message == "command exited with 3: converged 3"


def test_a_command_over_its_time_is_a_transient_failure():
    slow = registry.get("command")({"command": [sys.executable, "-c", "import time; time.sleep(5)"],
                                     "timeout_s": 0.3})
    result = slow.run(request())
    assert not result.ok and not result.permanent and result.message == "command timed out after 0.3s"


@pytest.mark.parametrize("options, field", [
    ({}, "options.command"),
    ({"command": "restart-app {certname}"}, "options.command"),
    ({"command": ["restart-app", "{certname}"]}, "options.command"),
    ({"command": ["/bin/true"], "timeout_s": 0}, "options.timeout_s"),
    ({"command": ["/bin/true"], "shell": True}, "options.shell"),
])
def test_bad_options_are_refused_naming_the_option(options, field):
    with pytest.raises(ValidationError) as caught:
        registry.get("command")(options)
    assert caught.value.extra["field"] == field
