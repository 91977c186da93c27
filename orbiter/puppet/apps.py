from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.puppet"
    label = "puppet"
    default_auto_field = "django.db.models.BigAutoField"
