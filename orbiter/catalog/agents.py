"""Agent enrollment: a host's agent key is trusted only after a one-time token or an
admin's approval of its fingerprint — never silently on first use. An offer without a token
is anonymous: it may fill an empty "pending" slot, never replace what is there, and its
answer is the same whether the host exists or not."""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orbiter.audit.services import event_record
from orbiter.bus.credentials import broker_password, read_secret
from orbiter.catalog.models import EnrollmentToken, Host
from orbiter.catalog.unassigned import unassigned_offer
from orbiter.common import validators
from orbiter.common.errors import NotFound, OrbiterError, ValidationError
from orbiter_agent.keys import fingerprint as key_fingerprint
from orbiter_agent.keys import parse_public_key, public_key_b64

log = logging.getLogger(__name__)


def fingerprint(public_key_b64_text: str) -> str:
    """The fingerprint the agent shows for the same key (orbiter_agent.keys.fingerprint)."""
    return key_fingerprint(parse_public_key(public_key_b64_text.encode(), source="public key"))


def _host(certname: str) -> Host:
    host = Host.objects.filter(certname=certname).first()
    if host is None:
        raise NotFound(f"no host {certname!r}; add it to Orbiter first (an agent that enrolled already is "
                       "listed by `orbiter hosts unassigned`)")
    return host


def _normalized_key(public_key: str) -> str:
    try:
        return public_key_b64(parse_public_key(public_key.strip().encode(), source="public_key"))
    except Exception as error:
        raise ValidationError(f"public_key: not an Ed25519 public key ({error})", field="public_key") from None


def enrollment_token_create(*, certname: str, actor: str, ttl_hours: float = 24) -> str:
    """A one-time token for the host's agent; only its hash is kept."""
    host = _host(certname)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        EnrollmentToken.objects.create(
            host=host, token_hash=hashlib.sha256(token.encode()).hexdigest(), created_by=actor,
            expires_at=timezone.now() + timedelta(hours=ttl_hours),
        )
        event_record(actor=actor, verb="agent.token", obj=host, data={"expires_in_hours": ttl_hours})
    return token


def agent_enroll(*, certname: str, public_key: str, token: str = "") -> str:
    """An agent offers its key. With a valid token the key is trusted at once ("trusted");
    without one it waits for an admin ("pending"). A bad token is refused.

    Without a token nobody is authenticated, so the offer (1) is answered "pending" alike for
    an unknown host, an empty slot and a slot already holding another key — nothing tells
    whether a host exists — and (2) fills only an empty slot: a pending key stays until an
    admin approves or revokes it (the first offer wins; the admin's fingerprint check decides)."""
    validators.certname("certname", certname)
    key = _normalized_key(public_key)
    host = Host.objects.filter(certname=certname).first()
    with transaction.atomic():
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            claimed = host is not None and EnrollmentToken.objects.filter(
                host=host, token_hash=digest, used_at__isnull=True, expires_at__gt=timezone.now()
            ).update(used_at=timezone.now())
            if claimed != 1:
                raise OrbiterError(f"enrollment token for {certname} is unknown, used or expired; ask for a new one")
            before = fingerprint(host.agent_public_key) if host.agent_public_key else ""
            Host.objects.filter(pk=host.pk).update(agent_public_key=key, agent_key_pending="")
            event_record(actor=certname, verb="agent.enroll", obj=host, before=before[:40],
                         after=fingerprint(key)[:40], data={"by": "token"})
            return "trusted"
        if host is None:
            # Kept for an admin to assign or reject (catalog/unassigned.py: bounded, first key
            # stays); the answer is the same as for a known host.
            unassigned_offer(certname=certname, public_key=key)
            return "pending"
        if Host.objects.filter(pk=host.pk, agent_key_pending="").exclude(agent_public_key=key).update(
                agent_key_pending=key):
            event_record(actor=certname, verb="agent.offer_key", obj=host, data={"fingerprint": fingerprint(key)})
        elif Host.objects.filter(pk=host.pk).exclude(agent_key_pending=key).exclude(agent_key_pending="").exists():
            # Not an Event: anonymous offers must not grow the audit trail without bound.
            log.warning("agent key offer for %s ignored: another key (%s) is pending approval",
                        certname, fingerprint(Host.objects.get(pk=host.pk).agent_key_pending))
        return "pending"


def agent_broker_password(*, certname: str, actor: str) -> str:
    """The host's broker password (its broker user is its certname), derived from the broker
    secret: nothing is stored, the broker derives the same. Reading it is audited."""
    host = _host(certname)
    if not settings.ORBITER_STOMP_SECRET_FILE:
        raise ValidationError("ORBITER_STOMP_SECRET_FILE is not set: the broker secret is needed to derive "
                              "agent passwords (docs/agents.md, \"The broker\")", field="ORBITER_STOMP_SECRET_FILE")
    try:
        secret = read_secret(settings.ORBITER_STOMP_SECRET_FILE)
    except (OSError, ValueError) as error:
        raise ValidationError(f"ORBITER_STOMP_SECRET_FILE: {error}", field="ORBITER_STOMP_SECRET_FILE") from None
    event_record(actor=actor, verb="agent.broker_password", obj=host)
    return broker_password(secret, host.certname)


def agent_key_approve(*, certname: str, expected_fingerprint: str, actor: str) -> None:
    """Trust the key a host offered, if its fingerprint is the one read on the host itself."""
    host = _host(certname)
    if not host.agent_key_pending:
        raise OrbiterError(f"{certname} has no key waiting for approval")
    actual = fingerprint(host.agent_key_pending)
    if not secrets.compare_digest(actual, expected_fingerprint.strip()):
        raise OrbiterError(f"fingerprint mismatch for {certname}: the offered key is {actual}; refusing")
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(agent_public_key=host.agent_key_pending, agent_key_pending="")
        event_record(actor=actor, verb="agent.approve_key", obj=host, after=actual[:40])


def agent_key_revoke(*, certname: str, actor: str) -> None:
    host = _host(certname)
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(agent_public_key="", agent_key_pending="")
        event_record(actor=actor, verb="agent.revoke_key", obj=host)
