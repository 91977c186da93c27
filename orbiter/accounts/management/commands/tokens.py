import sys
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from orbiter.accounts import roles
from orbiter.accounts.models import ApiToken
from orbiter.accounts.tokens import token_create, token_revoke, user_named
from orbiter.common.errors import OrbiterError
from orbiter.core.management.ops import add_actor_argument, local_actor


class Command(BaseCommand):
    help = ("API tokens: create --user U --name N [--app A]... [--env E]... [--max-role R] [--days D] "
            "(prints the token once); list; revoke ID.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list", "revoke"])
        parser.add_argument("token_id", nargs="?", type=int)
        parser.add_argument("--user", default="")
        parser.add_argument("--name", default="")
        parser.add_argument("--app", dest="applications", action="append", default=[],
                            help="limit the token to this application (repeat for more; default: all)")
        parser.add_argument("--env", dest="environments", action="append", default=[],
                            help="limit the token to this environment (repeat for more; default: all)")
        parser.add_argument("--max-role", default=roles.DEPLOYER, choices=roles.ROLES,
                            help="the most the token may do, whatever its user's role (default deployer)")
        parser.add_argument("--days", type=float, default=0, help="expire after this many days (default: never)")
        add_actor_argument(parser)

    def handle(self, *args, action, token_id, user, name, applications, environments, max_role, days, actor,
               **options):
        try:
            if action == "list":
                for t in ApiToken.objects.select_related("user").prefetch_related("applications", "environments"):
                    state = "revoked" if t.revoked_at else ("expired" if not t.is_usable else "active")
                    apps = ",".join(a.name for a in t.applications.all()) or "*"
                    envs = ",".join(e.name for e in t.environments.all()) or "*"
                    self.stdout.write(f"{t.pk}  {t.prefix}…  {t.name}  user={t.user.get_username()}  "
                                      f"max_role={t.max_role}  apps={apps}  envs={envs}  {state}")
                return
            actor = local_actor(actor)
            if action == "revoke":
                if token_id is None:
                    self.stderr.write("error: revoke needs a token ID (see: orbiter tokens list)")
                    sys.exit(2)
                token_revoke(token_id=token_id, actor=actor)
                self.stdout.write(f"token {token_id} revoked")
                return
            if not user:
                self.stderr.write("error: --user: give the user the token acts as")
                sys.exit(2)
            expires = timezone.now() + timedelta(days=days) if days > 0 else None
            token, raw = token_create(user=user_named(user), name=name, actor=actor, applications=applications,
                                      environments=environments, max_role=max_role, expires_at=expires)
            self.stderr.write(f"token {token.pk} created; it is shown only now, store it safely:")
            self.stdout.write(raw)
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)
