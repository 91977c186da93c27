"""The new-deployment form: what the user picked, checked before anything is asked of a service."""

from django import forms

from orbiter.catalog.models import Application, Artifact, Environment

PRODUCTION_NAMES = ("production", "prod")


def confirm_by_typing(environment: Environment | None) -> bool:
    """Production-like environments ask the user to type the application's name: those
    needing approval, and those named `production` or starting with `prod`."""
    if environment is None:
        return False
    return environment.requires_approval or environment.name.startswith(PRODUCTION_NAMES)


class DeploymentForm(forms.Form):
    application = forms.CharField(max_length=63)
    version = forms.CharField(max_length=200)
    environment = forms.CharField(max_length=63)
    batch_size = forms.CharField(max_length=10, required=False,
                                 help_text="hosts per batch or a percentage (e.g. 2 or 25%); empty: the application's default")
    queue = forms.BooleanField(required=False)
    comment = forms.CharField(max_length=500, required=False)
    confirm = forms.CharField(max_length=63, required=False)
    override_freeze = forms.CharField(max_length=500, required=False)  # an admin's reason to deploy through a freeze

    def __init__(self, *args, environments: list[Environment], **kwargs):
        super().__init__(*args, **kwargs)
        self.environments = {e.name: e for e in environments}

    def clean_application(self):
        name = self.cleaned_data["application"]
        app = Application.objects.filter(name=name).first()
        if app is None:
            raise forms.ValidationError(f"application: unknown {name!r}; choose one from the list")
        return app

    def clean_environment(self):
        name = self.cleaned_data["environment"]
        environment = self.environments.get(name)
        if environment is None:
            raise forms.ValidationError(
                f"environment: {name!r} is not one you may deploy to; allowed: {', '.join(self.environments) or 'none'}"
            )
        return environment

    def clean(self):
        data = super().clean()
        app, environment = data.get("application"), data.get("environment")
        if app and environment and confirm_by_typing(environment) and data.get("confirm", "").strip() != app.name:
            self.add_error("confirm", f"type {app.name} to confirm a deployment to {environment.name}")
        return data

    def strategy(self) -> dict | None:
        size = self.cleaned_data.get("batch_size", "").strip()
        return {"batch_size": size} if size else None


def versions_of(app: Application | None, *, limit: int = 50) -> list[Artifact]:
    """The application's builds, newest first (by RPM order), for the version list."""
    if app is None:
        return []
    return sorted(Artifact.objects.filter(application=app), key=lambda a: a.evr, reverse=True)[:limit]
