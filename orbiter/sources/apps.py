from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.sources"
    label = "sources"
    default_auto_field = "django.db.models.BigAutoField"
