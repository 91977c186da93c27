"""Agent enrollment: a host's agent key is trusted only after a one-time token or an
admin's approval of its fingerprint — never silently on first use."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from orbiter.audit.services import event_record
from orbiter.catalog.models import EnrollmentToken, Host
from orbiter.common.errors import NotFound, OrbiterError, ValidationError
from orbiter_agent.keys import fingerprint as key_fingerprint
from orbiter_agent.keys import parse_public_key, public_key_b64


def fingerprint(public_key_b64_text: str) -> str:
    """The fingerprint the agent shows for the same key (orbiter_agent.keys.fingerprint)."""
    return key_fingerprint(parse_public_key(public_key_b64_text.encode(), source="public key"))


def _host(certname: str) -> Host:
    host = Host.objects.filter(certname=certname).first()
    if host is None:
        raise NotFound(f"no host {certname!r}; add it to Orbiter first")
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
    without one it waits for an admin ("pending"). A bad token is refused."""
    host = _host(certname)
    key = _normalized_key(public_key)
    with transaction.atomic():
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            claimed = EnrollmentToken.objects.filter(
                host=host, token_hash=digest, used_at__isnull=True, expires_at__gt=timezone.now()
            ).update(used_at=timezone.now())
            if claimed != 1:
                raise OrbiterError(f"enrollment token for {certname} is unknown, used or expired; ask for a new one")
            before = fingerprint(host.agent_public_key) if host.agent_public_key else ""
            Host.objects.filter(pk=host.pk).update(agent_public_key=key, agent_key_pending="")
            event_record(actor=certname, verb="agent.enroll", obj=host, before=before[:40],
                         after=fingerprint(key)[:40], data={"by": "token"})
            return "trusted"
        Host.objects.filter(pk=host.pk).update(agent_key_pending=key)
        event_record(actor=certname, verb="agent.offer_key", obj=host, data={"fingerprint": fingerprint(key)})
        return "pending"


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
