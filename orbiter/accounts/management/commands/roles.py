import sys

from django.core.management.base import BaseCommand

from orbiter.accounts import roles
from orbiter.accounts.models import RoleBinding
from orbiter.accounts.services import role_grant, role_revoke
from orbiter.common.errors import OrbiterError
from orbiter.core.management.ops import add_actor_argument, local_actor


class Command(BaseCommand):
    help = ("Role bindings: list; grant ROLE --user U|--group G [--env ENV]; revoke ROLE --user U|--group G "
            "[--env ENV]. Without --env the role holds in every environment.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "grant", "revoke"])
        parser.add_argument("role", nargs="?", choices=roles.ROLES)
        parser.add_argument("--user", default="")
        parser.add_argument("--group", default="")
        parser.add_argument("--env", dest="environment", default="", help="environment name (default: all)")
        add_actor_argument(parser)

    def handle(self, *args, action, role, user, group, environment, actor, **options):
        try:
            if action == "list":
                bindings = RoleBinding.objects.select_related("user", "group", "environment").order_by("id")
                for b in bindings:
                    who = f"user:{b.user.get_username()}" if b.user_id else f"group:{b.group.name}"
                    self.stdout.write(f"{who}  {b.role}  {b.environment.name if b.environment_id else '*'}")
                return
            if not role:
                self.stderr.write(f"error: {action} needs a ROLE ({', '.join(roles.ROLES)})")
                sys.exit(2)
            actor = local_actor(actor)
            if action == "grant":
                role_grant(role=role, user=user, group=group, environment=environment, actor=actor)
                self.stdout.write(f"granted {role} to {user or 'group ' + group} in {environment or 'all environments'}")
            else:
                removed = role_revoke(role=role, user=user, group=group, environment=environment, actor=actor)
                if not removed:
                    self.stderr.write("error: no such binding")
                    sys.exit(2)
                self.stdout.write(f"revoked {role} from {user or 'group ' + group} in {environment or 'all environments'}")
        except OrbiterError as error:
            self.stderr.write(f"error: {error.message}")
            sys.exit(2)
