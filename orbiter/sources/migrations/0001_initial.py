import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="YumRepository",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.SlugField(max_length=63, unique=True)),
                ("base_url", models.URLField(help_text="the directory holding repodata/, ending in /", max_length=500)),
                ("poll_interval_s", models.PositiveIntegerField(default=60)),
                ("enabled", models.BooleanField(default=True)),
                ("etag", models.CharField(blank=True, max_length=200)),
                ("last_modified", models.CharField(blank=True, max_length=100)),
                ("primary_checksum", models.CharField(blank=True, max_length=200)),
                ("feeds_digest", models.CharField(blank=True, max_length=64)),
                ("next_poll_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("last_checked_at", models.DateTimeField(blank=True, null=True)),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                ("last_changed_at", models.DateTimeField(blank=True, help_text="when new metadata was last read", null=True)),
                ("last_error", models.TextField(blank=True)),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                ("last_found", models.PositiveIntegerField(default=0, help_text="artifacts registered by the last poll")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "applications",
                    models.ManyToManyField(
                        blank=True,
                        help_text="only these applications (empty: every application whose package is in the repository)",
                        related_name="yum_repositories",
                        to="catalog.application",
                    ),
                ),
            ],
            options={
                "verbose_name": "yum repository",
                "verbose_name_plural": "yum repositories",
                "ordering": ["name"],
            },
        ),
    ]
