from django.apps import AppConfig


class Config(AppConfig):
    name = "orbiter.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orbiter.deployments.signals import deployment_transitioned
        from orbiter.notifications.receivers import on_deployment_transitioned

        deployment_transitioned.connect(on_deployment_transitioned, dispatch_uid="orbiter.notifications")
