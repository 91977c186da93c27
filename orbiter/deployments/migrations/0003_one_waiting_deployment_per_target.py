"""At most one deployment per application and environment waits to start without having
asked to queue (see Deployment.Meta.constraints)."""

from django.conf import settings
from django.db import migrations, models

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
        migrations.AddConstraint(
            model_name='deployment',
            constraint=models.UniqueConstraint(condition=models.Q(('is_rollback', False), ('queued_behind__isnull', True), ('status__in', ['awaiting_approval', 'pending', 'queued'])), fields=('application', 'environment'), name='deployment_one_waiting_per_target'),
        ),
    ]
