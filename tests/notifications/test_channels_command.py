"""`orbiter notifications`: add, list, test, enable/disable, remove, deliveries — and bad
input refused with the field named and what is allowed."""

import io

import pytest
from django.core.management import CommandError, call_command

from orbiter.audit.models import Event
from orbiter.notifications.models import FAILED, Channel
from tests.conftest import build_fleet
from tests.notifications.support import HOOK_KEY, closed_port_url, documented_verify

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("notifications", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_an_admin_adds_a_webhook_channel_and_tests_it(receiver):
    out, err = run("add", "ci-hook", "--kind", "webhook", "--url", receiver.url,
                   "--secret", "env:ORBITER_TEST_HOOK_KEY", "--events", "started,failed", "--actor", "carol")
    assert out.strip() == f"added ci-hook (webhook → {receiver.url}) for started, failed"
    assert err == ""
    event = Event.objects.get(verb="notification_channel.create")
    assert event.actor == "carol" and HOOK_KEY not in str(event.data)

    out, _ = run("test", "ci-hook")
    assert out.startswith("delivered to ci-hook (HTTP 200)")
    (received,) = receiver.requests
    assert received.json["event"] == "test"
    assert documented_verify()(HOOK_KEY.encode(), received.headers, received.body)


def test_the_list_shows_filters_and_failed_deliveries():
    build_fleet(hosts=1, environment="production")
    run("add", "prod-slack", "--kind", "slack", "--secret", "file:/etc/orbiter/slack-url", "--env", "production")
    run("add", "dead-hook", "--kind", "webhook", "--url", closed_port_url(), "--secret", "env:ORBITER_TEST_HOOK_KEY")
    with pytest.raises(SystemExit) as exit_:
        run("test", "dead-hook")
    assert exit_.value.code == 1

    out, _ = run("list")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "shop-api" not in lines["prod-slack"] and "*@production" in lines["prod-slack"]
    assert lines["prod-slack"].rstrip().endswith("file:/etc/orbiter/slack-url")
    assert lines["dead-hook"].split()[-2] == "1"  # one failed delivery
    out, _ = run("deliveries", "--status", FAILED)
    assert "dead-hook" in out and "cannot reach the receiver" in out


def test_a_slack_secret_that_is_not_readable_here_is_warned_about():
    _, err = run("add", "team", "--kind", "slack", "--secret", "env:ORBITER_NO_SUCH_VARIABLE")
    assert "env:ORBITER_NO_SUCH_VARIABLE is not readable here" in err


def test_disable_enable_and_remove(receiver):
    run("add", "ci-hook", "--kind", "webhook", "--url", receiver.url, "--secret", "env:ORBITER_TEST_HOOK_KEY")
    run("disable", "ci-hook")
    assert Channel.objects.get(name="ci-hook").enabled is False
    run("enable", "ci-hook")
    assert Channel.objects.get(name="ci-hook").enabled is True
    run("remove", "ci-hook")
    assert not Channel.objects.exists()
    assert list(Event.objects.filter(object_type="channel").values_list("verb", flat=True).order_by("id")) == [
        "notification_channel.create", "notification_channel.disable", "notification_channel.enable",
        "notification_channel.delete",
    ]


WEBHOOK = ["--kind", "webhook", "--url", "https://x.example/"]
EMAIL = ["--kind", "email", "--to", "a@example.com"]


@pytest.mark.parametrize("args, message", [
    (["Bad_Name", *EMAIL], "name: 'Bad_Name' is not a valid name"),
    (["hook", "--kind", "webhook", "--url", "ftp://x.example/", "--secret", "env:K"],
     "url: 'ftp://x.example/' is not an http(s) URL"),
    (["hook", *WEBHOOK], "secret: a webhook needs its HMAC key's reference"),
    (["hook", *WEBHOOK, "--secret", "s3cret"],
     "secret: 's3cret' is not a secret reference; allowed: 'env:VARIABLE_NAME' or 'file:/absolute/path'"),
    (["team", "--kind", "slack", "--url", "https://hooks.slack.com/services/T/B/x"],
     "url: a Slack incoming-webhook URL carries its token"),
    (["mail", "--kind", "email", "--to", "ops@example.com,not-an-address"],
     "recipients: 'not-an-address' is not an email address"),
    (["mail", "--kind", "email"], "recipients: an email channel needs at least one address"),
    (["mail", *EMAIL, "--events", "started,deployed"],
     "events: unknown 'deployed'; allowed: started, succeeded, failed, needs_approval, cancelled, rolled_back"),
    (["mail", *EMAIL, "--app", "nope"], "applications: unknown 'nope'; available: none yet"),
])
def test_bad_input_is_refused_naming_the_field(args, message):
    with pytest.raises(CommandError) as error:
        run("add", *args)
    assert str(error.value).startswith(message)
    assert not Channel.objects.exists()


def test_a_second_channel_with_the_same_name_is_refused():
    run("add", "mail", "--kind", "email", "--to", "a@example.com")
    with pytest.raises(CommandError, match="name: a channel named 'mail' already exists"):
        run("add", "mail", "--kind", "email", "--to", "b@example.com")
