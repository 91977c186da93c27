from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.converge"
    label = "converge"
    default_auto_field = "django.db.models.BigAutoField"
