import sys

from django.core.management.base import BaseCommand

from orbiter.catalog.agents import (
    agent_broker_password,
    agent_key_approve,
    agent_key_revoke,
    enrollment_token_create,
    fingerprint,
)
from orbiter.catalog.models import Host
from orbiter.common.errors import OrbiterError
from orbiter.core.management.ops import add_actor_argument, local_actor


class Command(BaseCommand):
    help = ("Agent keys: list, token HOST (one-time enrollment token), approve HOST --fingerprint FP, revoke HOST, "
            "broker-password HOST (the host's broker password, derived from ORBITER_STOMP_SECRET_FILE).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "token", "approve", "revoke", "broker-password"])
        parser.add_argument("certname", nargs="?")
        parser.add_argument("--fingerprint", dest="expected", default="",
                            help="with approve: the fingerprint shown on the host")
        parser.add_argument("--ttl-hours", type=float, default=24, help="with token: validity (default 24)")
        add_actor_argument(parser)

    def handle(self, *args, action, certname, expected, ttl_hours, actor, **options):
        try:
            if action == "list":
                for host in Host.objects.order_by("certname"):
                    trusted = fingerprint_or_dash(host.agent_public_key)
                    pending = fingerprint_or_dash(host.agent_key_pending)
                    self.stdout.write(f"{host.certname}  trusted={trusted}  pending={pending}")
                return
            if not certname:
                self.stderr.write(f"error: {action} needs a CERTNAME")
                sys.exit(2)
            actor = local_actor(actor)
            if action == "token":
                self.stdout.write(enrollment_token_create(certname=certname, actor=actor, ttl_hours=ttl_hours))
            elif action == "broker-password":
                self.stdout.write(agent_broker_password(certname=certname, actor=actor))
            elif action == "approve":
                agent_key_approve(certname=certname, expected_fingerprint=expected, actor=actor)
                self.stdout.write(f"{certname}: key trusted")
            else:
                agent_key_revoke(certname=certname, actor=actor)
                self.stdout.write(f"{certname}: key revoked")
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)


def fingerprint_or_dash(key: str) -> str:
    return fingerprint(key) if key else "-"
