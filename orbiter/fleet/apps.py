from django.apps import AppConfig


class FleetConfig(AppConfig):
    """The fleet as code (`orbiter apply`, `export`, `schema`): no models of its own."""

    name = "orbiter.fleet"
    label = "fleet"
