from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
