"""Slack-compatible incoming webhooks: {"text": …} plus blocks, to a URL kept in a secret file."""

import pytest

from orbiter.notifications import services
from orbiter.notifications.models import DELIVERED
from tests.conftest import build_fleet
from tests.deployments.support import deploy, set_converge_options
from tests.notifications.support import settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slack(tmp_path, receiver):
    url_file = tmp_path / "slack-url"
    url_file.write_text(receiver.url + "\n")
    services.channel_create(name="team-slack", kind="slack", secret=f"file:{url_file}",
                            events=["succeeded", "failed"], actor="admin")
    return receiver


def test_a_success_is_posted_as_one_readable_line_with_a_link(tasks, slack):
    build_fleet(hosts=2)
    deployment = deploy(tasks, "1.1.0-1", actor="alice")
    (delivery,) = settle(tasks, 1)

    assert delivery.status == DELIVERED
    (received,) = slack.requests
    message = received.json
    url = f"https://orbiter.example/deployments/{deployment.pk}/"
    assert message["text"].startswith(":white_check_mark: shop-api 1.1.0-1 → cert succeeded")
    assert f"<{url}|open in Orbiter>" in message["text"]
    assert message["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": message["text"]}}
    assert "X-Orbiter-Signature" not in received.headers  # Slack authenticates by the URL's token


def test_a_failure_carries_the_reason(tasks, slack):
    build_fleet(hosts=2)
    set_converge_options(fail_hosts=["shop-api-cert-01"])
    deployment = deploy(tasks, "1.1.0-1")
    settle(tasks, 1)

    assert deployment.status == "failed"
    text = slack.requests[0].json["text"]
    assert text.startswith(":x: shop-api 1.1.0-1 → cert failed")
    reason = text.split("\n> ", 1)[1]
    assert deployment.message and reason == deployment.message.replace(">", "&gt;").replace("<", "&lt;")
