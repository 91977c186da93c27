from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "orbiter.pipelines"
    label = "pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from orbiter.pipelines import receivers, selectors

        receivers.connect()
        try:
            from orbiter.metrics.hooks import set_gates_passed
        except ImportError:  # metrics not installed
            return
        set_gates_passed(selectors.gates_passed_at)
