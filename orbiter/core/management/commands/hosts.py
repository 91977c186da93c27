import sys

from django.core.management.base import BaseCommand

from orbiter.catalog import unassigned
from orbiter.catalog.models import Host
from orbiter.catalog.selectors import host_versions
from orbiter.common.errors import OrbiterError, ValidationError
from orbiter.core.management.ops import add_actor_argument, local_actor

ACTIONS = ("unassigned", "assign", "reject", "unreject", "forget")
FLAGS = {"environment": "--environment", "applications": "--application", "labels": "--label",
         "certname": "CERTNAME"}


class Command(BaseCommand):
    help = ("Hosts with the version pinned and the version their agent reports installed; drift flagged. "
            "Agents that enrolled under a certname no host has: `unassigned` lists them with their key's "
            "fingerprint; `assign CERTNAME --environment E [--application A …] [--label k=v …] "
            "[--fingerprint FP]` creates the host; `reject CERTNAME` refuses its later offers (`unreject` "
            "undoes it); `forget CERTNAME` removes the row.")

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=ACTIONS,
                            help="without one: the hosts' versions (--env, --drift)")
        parser.add_argument("certname", nargs="?", help="with assign, reject, unreject, forget")
        parser.add_argument("--env", default=None, help="only this environment")
        parser.add_argument("--drift", action="store_true", help="only hosts whose installed version differs")
        parser.add_argument("--rejected", action="store_true", help="with unassigned: the rejected ones too")
        parser.add_argument("--environment", default=None, help="with assign: the host's environment")
        parser.add_argument("--application", action="append", default=[], dest="applications", metavar="NAME",
                            help="with assign: an application the host runs (repeat for more)")
        parser.add_argument("--label", action="append", default=[], dest="labels", metavar="KEY=VALUE",
                            help="with assign: a label (repeat for more)")
        parser.add_argument("--fingerprint", default="", dest="expected", metavar="SHA256:…",
                            help="with assign: the fingerprint read on the host (`orbiter-agent keygen` "
                                 "printed it): trusts the key at once; without it, the key stays pending "
                                 "for `orbiter agents approve`")
        add_actor_argument(parser)

    def handle(self, *args, action, certname, env, drift, rejected, actor, **options):
        if action is None:
            return self._versions(env, drift)
        try:
            if action == "unassigned":
                return self._unassigned(rejected)
            if not certname:
                raise ValidationError(f"certname: {action} needs a CERTNAME (see `orbiter hosts unassigned`)",
                                      field="certname")
            actor = local_actor(actor)
            if action == "assign":
                host = unassigned.unassigned_assign(
                    certname=certname, environment=options["environment"] or "",
                    applications=options["applications"], labels=_labels(options["labels"]),
                    expected_fingerprint=options["expected"], actor=actor)
                key = "trusted" if Host.objects.get(pk=host.pk).agent_public_key else (
                    f"pending: `orbiter agents approve {certname} --fingerprint FP` with the fingerprint read "
                    "on the host")
                self.stdout.write(f"{certname}: host created in {host.environment}; agent key {key}")
            elif action == "reject":
                unassigned.unassigned_reject(certname=certname, actor=actor)
                self.stdout.write(f"{certname}: rejected; its later offers change nothing")
            elif action == "unreject":
                unassigned.unassigned_unreject(certname=certname, actor=actor)
                self.stdout.write(f"{certname}: unassigned again")
            else:
                unassigned.unassigned_forget(certname=certname, actor=actor)
                self.stdout.write(f"{certname}: forgotten")
        except OrbiterError as error:
            self.stderr.write(f"error: {_flag_named(error.message)}")
            sys.exit(2)

    def _unassigned(self, rejected: bool) -> None:
        rows = unassigned.unassigned_list(rejected=None if rejected else False)
        self.stdout.write(f"{'certname':40} {'fingerprint':52} {'first seen':16} {'last seen':16} {'attempts':>8}"
                          + ("  rejected" if rejected else ""))
        for row in rows:
            state = f"  {row.rejected_by} {row.rejected_at:%Y-%m-%d %H:%M}" if row.rejected_at else ""
            self.stdout.write(f"{row.certname:40} {row.fingerprint:52} {row.first_seen_at:%Y-%m-%d %H:%M} "
                              f"{row.last_seen_at:%Y-%m-%d %H:%M} {row.attempts:>8}{state}")

    def _versions(self, env, drift) -> None:
        seen = dict(Host.objects.values_list("certname", "last_seen_at"))
        self.stdout.write(f"{'host':40} {'env':12} {'package':20} {'pinned':14} {'installed':14} last seen")
        for row in host_versions(environment=env):
            if drift and not row.drift:
                continue
            installed = row.installed or ("-" if row.reported else "?")
            last = seen.get(row.certname)
            last_text = f"{last:%Y-%m-%d %H:%M:%S}" if last else "never"
            flag = "  DRIFT" if row.drift else ""
            self.stdout.write(
                f"{row.certname:40} {row.environment:12} {row.package:20} {row.pinned or '-':14} "
                f"{installed:14} {last_text}{flag}"
            )


def _flag_named(message: str) -> str:
    """'environment: …' -> '--environment: …': the flag the user typed."""
    for field, flag in FLAGS.items():
        if message.startswith(f"{field}:"):
            return flag + message[len(field):]
    return message


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--label: {pair!r} is not KEY=VALUE, e.g. --label rack=b2", field="labels")
        labels[key] = value
    return labels
