"""Before 0004 adds its index: line up the deployments the old race left waiting side by side.
A migration of its own: PostgreSQL cannot build an index on a table with updates whose
deferred foreign-key checks are still pending in the same transaction."""

from django.conf import settings
from django.db import migrations

WAITING = ["awaiting_approval", "pending", "queued"]


def line_up_duplicates(apps, schema_editor):
    """Deployments created side by side before the constraint existed (concurrent requests)
    become what the engine already made of them: each queued behind the one before it."""
    Deployment = apps.get_model("deployments", "Deployment")
    waiting = (Deployment.objects.filter(status__in=WAITING, queued_behind__isnull=True, is_rollback=False)
               .order_by("application_id", "environment_id", "id")
               .values_list("pk", "application_id", "environment_id"))
    previous = None
    for pk, app_id, env_id in waiting:
        if previous is not None and previous[1:] == (app_id, env_id):
            Deployment.objects.filter(pk=pk).update(queued_behind_id=previous[0])
        previous = (pk, app_id, env_id)


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0005_approvals_and_weekly_freezes'),
        ('deployments', '0002_deployment_app_id_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(line_up_duplicates, migrations.RunPython.noop),
    ]
