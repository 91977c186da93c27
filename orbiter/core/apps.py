from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.core"
    label = "orbiter_core"
    default_auto_field = "django.db.models.BigAutoField"
