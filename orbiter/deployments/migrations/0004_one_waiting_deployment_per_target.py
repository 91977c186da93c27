"""At most one deployment per application and environment waits to start without having
asked to queue (see Deployment.Meta.constraints)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deployments', '0003_line_up_waiting_duplicates'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='deployment',
            constraint=models.UniqueConstraint(condition=models.Q(('is_rollback', False), ('queued_behind__isnull', True), ('status__in', ['awaiting_approval', 'pending', 'queued'])), fields=('application', 'environment'), name='deployment_one_waiting_per_target'),
        ),
    ]
