from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.api"
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"
