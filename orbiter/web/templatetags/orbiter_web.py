"""Small filters the pages share."""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """90.5 -> '1m 31s'; None -> ''."""
    if seconds is None or seconds == "":
        return ""
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def took(obj) -> str:
    """Wall time between an object's started_at and finished_at."""
    if not getattr(obj, "started_at", None) or not getattr(obj, "finished_at", None):
        return ""
    return duration((obj.finished_at - obj.started_at).total_seconds())


@register.simple_tag
def status(value: str):
    """A status badge; colour from the status, the word always shown (not colour alone)."""
    return format_html('<span class="s s-{}">{}</span>', value, value.replace("_", " "))


@register.simple_tag
def progress_bar(progress):
    """Done, in flight and failed as one bar: an SVG whose rectangles take their widths from
    attributes, because the Content-Security-Policy allows no inline style="" attribute."""
    done, busy, bad = (max(0, min(100, int(v))) for v in
                       (progress.done_pct, progress.in_flight_pct, progress.failed_pct))
    return format_html(
        '<svg class="bar" viewBox="0 0 100 1" preserveAspectRatio="none" role="progressbar" '
        'aria-valuemin="0" aria-valuemax="{}" aria-valuenow="{}" aria-label="{} of {} hosts done">'
        '<rect class="done" x="0" y="0" width="{}" height="1"/>'
        '<rect class="busy" x="{}" y="0" width="{}" height="1"/>'
        '<rect class="bad" x="{}" y="0" width="{}" height="1"/></svg>',
        progress.total, progress.done, progress.done, progress.total,
        done, done, busy, done + busy, bad,
    )


@register.simple_tag
def admin_everywhere(user) -> bool:
    """Whether the nav shows what only admins of all environments may open (unassigned hosts)."""
    from orbiter.accounts import roles
    from orbiter.common.errors import Forbidden

    try:
        roles.require_admin_everywhere(user, "")
    except Forbidden:
        return False
    return True
