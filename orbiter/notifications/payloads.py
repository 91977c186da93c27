"""What a notification says: the JSON payload every channel starts from, and its renderings
as a Slack message and an email. The payload is built once per delivery and stored, so
every retry sends the same bytes."""

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from orbiter.notifications import events

_SUMMARY = {
    events.STARTED: "started",
    events.SUCCEEDED: "succeeded",
    events.FAILED: "failed",
    events.NEEDS_APPROVAL: "needs approval",
    events.CANCELLED: "was cancelled",
    events.ROLLED_BACK: "was rolled back",
    events.TEST: "test notification",
}
_EMOJI = {
    events.STARTED: ":rocket:",
    events.SUCCEEDED: ":white_check_mark:",
    events.FAILED: ":x:",
    events.NEEDS_APPROVAL: ":raised_hand:",
    events.CANCELLED: ":no_entry_sign:",
    events.ROLLED_BACK: ":leftwards_arrow_with_hook:",
    events.TEST: ":bell:",
}


def deployment_url(deployment_id: int) -> str:
    try:
        path = reverse("deployment", args=[deployment_id])
    except NoReverseMatch:  # the UI's URL names are not this app's to rely on
        path = f"/deployments/{deployment_id}/"
    return settings.ORBITER_BASE_URL + path


def deployment_payload(deployment, *, event: str, before: str, after: str, actor: str, at: str) -> dict:
    """The webhook body (and the facts every other rendering uses)."""
    return {
        "event": event,
        "deployment_id": deployment.pk,
        "application": deployment.application.name,
        "environment": deployment.environment.name,
        "version": deployment.artifact.label,
        "status": after,
        "previous_status": before,
        "actor": actor,
        "requested_by": deployment.requested_by_name,
        "message": deployment.message,
        "url": deployment_url(deployment.pk),
        "timestamp": at,
    }


def test_payload(*, actor: str, at: str) -> dict:
    return {
        "event": events.TEST,
        "deployment_id": None,
        "application": None,
        "environment": None,
        "version": None,
        "status": None,
        "previous_status": None,
        "actor": actor,
        "requested_by": None,
        "message": "a test notification from Orbiter: this channel works",
        "url": settings.ORBITER_BASE_URL + "/",
        "timestamp": at,
    }


def headline(payload: dict) -> str:
    """One line: 'shop-api 1.1.0-1 → production succeeded (#42, by alice)'."""
    summary = _SUMMARY.get(payload["event"], payload["event"])
    if payload["deployment_id"] is None:
        return f"Orbiter {summary} (by {payload['actor']})"
    who = payload["requested_by"] if payload["event"] == events.NEEDS_APPROVAL else payload["actor"]
    return (
        f"{payload['application']} {payload['version']} → {payload['environment']} {summary} "
        f"(#{payload['deployment_id']}, {'requested ' if payload['event'] == events.NEEDS_APPROVAL else ''}by {who})"
    )


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: dict) -> dict:
    """{"text": …} for any Slack-compatible receiver, plus Block Kit blocks Slack renders
    (receivers that do not know blocks show the text)."""
    emoji = _EMOJI.get(payload["event"], ":bell:")
    line = _slack_escape(headline(payload))
    text = f"{emoji} {line} <{payload['url']}|open in Orbiter>"
    if payload["message"] and payload["event"] in (events.FAILED, events.TEST):
        text += f"\n> {_slack_escape(payload['message'])}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Orbiter · {payload['event']} · {payload['timestamp']}"}],
        },
    ]
    return {"text": text, "blocks": blocks}


def email_message(payload: dict) -> tuple[str, str]:
    """(subject, plain-text body)."""
    subject = " ".join(f"[Orbiter] {headline(payload)}".split())  # never a header break
    lines = [headline(payload), ""]
    for key in ("application", "environment", "version", "status", "previous_status", "actor", "requested_by"):
        if payload.get(key):
            lines.append(f"{key.replace('_', ' '):16} {payload[key]}")
    if payload.get("message"):
        lines += ["", payload["message"]]
    lines += ["", payload["url"], "", f"({payload['event']} at {payload['timestamp']})"]
    return subject, "\n".join(lines) + "\n"
