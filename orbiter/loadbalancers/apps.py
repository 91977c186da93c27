from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.loadbalancers"
    label = "loadbalancers"
    default_auto_field = "django.db.models.BigAutoField"
