from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orbiter.accounts import signin  # noqa: F401  (connects the lockout's audit Event)
