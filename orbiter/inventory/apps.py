from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.inventory"
    label = "inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orbiter.inventory import receivers

        receivers.connect()
