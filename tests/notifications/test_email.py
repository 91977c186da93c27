"""Email through Django's mail backend: the locmem outbox, and once through a real SMTP
server (aiosmtpd) on loopback."""

import email
import email.policy

import pytest
from aiosmtpd.controller import Controller
from django.core import mail

from orbiter.deployments import services as deployments
from orbiter.notifications import services
from orbiter.notifications.models import DELIVERED, FAILED
from tests.conftest import build_fleet
from tests.deployments.support import deploy, request, run_to_end, set_converge_options
from tests.notifications.support import free_port, settle

pytestmark = pytest.mark.django_db(transaction=True)


def mail_channel(*recipients, events=("needs_approval",)):
    return services.channel_create(name="release-mail", kind="email", recipients=list(recipients),
                                   events=list(events), actor="admin")


def test_approvers_are_mailed_when_a_deployment_needs_their_approval(tasks):
    build_fleet(hosts=1, requires_approval=True)
    mail_channel("ops@example.com", "lead@example.com")
    deployment = request("1.1.0-1", actor="alice")
    (delivery,) = settle(tasks, 1)

    assert delivery.status == DELIVERED
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "lead@example.com"]
    assert message.subject == (
        f"[Orbiter] shop-api 1.1.0-1 → cert needs approval (#{deployment.pk}, requested by alice)"
    )
    assert f"https://orbiter.example/deployments/{deployment.pk}/" in message.body
    assert message.extra_headers["X-Orbiter-Event"] == "needs_approval"


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.DEFAULT_FROM_EMAIL = "orbiter@example.com"
    yield inbox
    controller.stop()


def test_a_failed_deployment_is_mailed_through_a_real_smtp_server(tasks, smtp_server):
    build_fleet(hosts=1)
    set_converge_options(fail_hosts=["shop-api-cert-01"])
    mail_channel("oncall@example.com", events=["failed"])
    deployment = deploy(tasks, "1.1.0-1")
    (delivery,) = settle(tasks, 1)

    assert (deployment.status, delivery.status) == ("failed", DELIVERED)
    (envelope,) = smtp_server.envelopes
    assert envelope.mail_from == "orbiter@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    subject = " ".join(message["Subject"].split())  # unfolded
    assert subject == f"[Orbiter] shop-api 1.1.0-1 → cert failed (#{deployment.pk}, by engine)"
    assert message["X-Orbiter-Delivery"] == str(delivery.uuid)
    body = message.get_content()
    assert f"https://orbiter.example/deployments/{deployment.pk}/" in body
    assert deployment.message in body


def test_an_smtp_server_that_is_down_fails_the_delivery_not_the_deployment(tasks, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    build_fleet(hosts=1, requires_approval=True)
    mail_channel("ops@example.com")
    deployment = request("1.1.0-1")
    deployments.deployment_approve(deployment_id=deployment.pk, actor="bob")
    deployment = run_to_end(tasks, deployment)
    (delivery,) = settle(tasks, 1)

    assert deployment.status == "succeeded"
    assert (delivery.status, delivery.attempts) == (FAILED, 3)
    assert "SMTP" in delivery.error and "Connection refused" in delivery.error
