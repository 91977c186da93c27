from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.metrics"
    label = "metrics"
    default_auto_field = "django.db.models.BigAutoField"
