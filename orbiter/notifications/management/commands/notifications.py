import sys

from django.core.management.base import BaseCommand, CommandError

from orbiter.common.errors import OrbiterError
from orbiter.notifications import events, secret_refs, selectors, services
from orbiter.notifications.models import DELIVERED, DELIVERY_STATUSES, KINDS


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class Command(BaseCommand):
    help = "Notification channels: add, list, test, enable, disable, remove; and recent deliveries."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a channel")
        add.add_argument("name")
        add.add_argument("--kind", required=True, choices=KINDS)
        add.add_argument("--url", default="", help="webhook: where to POST")
        add.add_argument("--secret", default="",
                         help="env:NAME or file:/path (webhook: HMAC key; slack: the incoming-webhook URL)")
        add.add_argument("--to", default="", help="email: comma-separated recipients")
        add.add_argument("--events", dest="event_names", default="",
                         help=f"comma-separated, of {', '.join(events.EVENTS)} "
                              f"(default: {','.join(events.DEFAULT_EVENTS)})")
        add.add_argument("--app", default="", help="only these applications (comma-separated)")
        add.add_argument("--env", default="", help="only these environments (comma-separated)")
        add.add_argument("--disabled", action="store_true", help="create it disabled")
        sub.add_parser("list", help="channels, with their failed deliveries")
        changes = [add]
        for name in ("test", "enable", "disable", "remove"):
            changes.append(sub.add_parser(name, help=f"{name} a channel"))
            changes[-1].add_argument("name")
        for subparser in changes:
            subparser.add_argument("--actor", default="cli", help="who makes the change (audit trail)")
        deliveries = sub.add_parser("deliveries", help="recent deliveries, newest first")
        deliveries.add_argument("--channel", default=None)
        deliveries.add_argument("--status", default=None, choices=DELIVERY_STATUSES)
        deliveries.add_argument("--limit", type=int, default=20)

    def handle(self, *args, action, **options):
        options.setdefault("actor", "cli")
        try:
            getattr(self, f"_{action}")(**options)
        except OrbiterError as error:
            raise CommandError(error.message) from None

    def _add(self, *, actor, name, kind, url, secret, to, event_names, app, env, disabled, **_):
        channel = services.channel_create(
            name=name, kind=kind, url=url, secret=secret, recipients=_names(to), events=_names(event_names),
            applications=_names(app), environments=_names(env), enabled=not disabled, actor=actor,
        )
        self.stdout.write(f"added {channel.name} ({channel.kind} → {channel.target}) for {', '.join(channel.events)}")
        if channel.secret and not secret_refs.is_available(channel.secret):
            self.stderr.write(f"warning: {channel.secret} is not readable here; the workers must be able to read it")

    def _list(self, **_):
        self.stdout.write(f"{'name':24} {'kind':8} {'on':3} {'events':44} {'filter':24} {'failed':>6}  target")
        for c in selectors.channel_overview():
            scope = ",".join(a.name for a in c.applications.all()) or "*"
            scope += "@" + (",".join(e.name for e in c.environments.all()) or "*")
            self.stdout.write(
                f"{c.name:24} {c.kind:8} {'yes' if c.enabled else 'no':3} {','.join(c.events):44} {scope:24} "
                f"{c.failed_count:>6}  {c.target}"
            )

    def _test(self, *, actor, name, **_):
        delivery = services.channel_test(name=name, actor=actor)
        code = f" (HTTP {delivery.http_status})" if delivery.http_status else ""
        if delivery.status == DELIVERED:
            self.stdout.write(f"delivered to {delivery.channel.name}{code}, delivery {delivery.uuid}")
            return
        self.stderr.write(f"FAILED to notify {delivery.channel.name}{code}: {delivery.error}")
        sys.exit(1)

    def _enable(self, *, actor, name, **_):
        services.channel_set_enabled(name=name, enabled=True, actor=actor)
        self.stdout.write(f"enabled {name}")

    def _disable(self, *, actor, name, **_):
        services.channel_set_enabled(name=name, enabled=False, actor=actor)
        self.stdout.write(f"disabled {name}")

    def _remove(self, *, actor, name, **_):
        services.channel_delete(name=name, actor=actor)
        self.stdout.write(f"removed {name}")

    def _deliveries(self, *, channel, status, limit, **_):
        self.stdout.write(f"{'when':19} {'channel':20} {'event':15} {'deployment':>10} {'status':9} {'tries':>5} result")
        for d in selectors.deliveries_recent(channel=channel, status=status, limit=limit):
            result = d.error or (f"HTTP {d.http_status}" if d.http_status else "")
            self.stdout.write(
                f"{d.created_at:%Y-%m-%d %H:%M:%S} {d.channel.name:20} {d.event:15} {d.deployment_id or '-':>10} "
                f"{d.status:9} {d.attempts:>5} {result}"
            )
