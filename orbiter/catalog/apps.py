from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.catalog"
    label = "catalog"
    default_auto_field = "django.db.models.BigAutoField"
