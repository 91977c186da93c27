"""New deployment: pick a build and an environment, read the preflight and the plan, confirm."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from orbiter.catalog.models import Application
from orbiter.common.errors import PreflightRefused, ValidationError
from orbiter.deployments import selectors as deployment_selectors
from orbiter.deployments import services
from orbiter.web.forms import DeploymentForm, confirm_by_typing, versions_of
from orbiter.web.views.common import page


@page
def new_deployment(request, access):
    if request.method == "POST":
        return _create(request, access)
    return render(request, "web/deploy.html", _context(request.GET, access))


@require_POST
@page
def preview(request, access):
    """The form again (the version list follows the application) with the preflight and plan."""
    return render(request, "web/partials/deploy_form.html", _context(request.POST, access))


def _context(data, access, *, error: str = "", form: DeploymentForm | None = None) -> dict:
    environments = access.environments("deploy")
    applications = list(Application.objects.order_by("name"))
    app = next((a for a in applications if a.name == data.get("application")), None)
    if app is None and len(applications) == 1:
        app = applications[0]
    versions = versions_of(app)
    version = data.get("version") or ""
    if versions and version not in {a.label for a in versions}:
        version = versions[0].label
    environment = next((e for e in environments if e.name == data.get("environment")), None)
    context = {
        "applications": applications,
        "app": app,
        "versions": versions,
        "version": version,
        "environments": environments,
        "environment": environment,
        "batch_size": data.get("batch_size", ""),
        "queue": bool(data.get("queue")),
        "comment": data.get("comment", ""),
        "confirm_required": confirm_by_typing(environment),
        "form": form,
        "error": error,
        "plan": None,
        "refusal": None,
    }
    if app and version and environment:
        strategy = {"batch_size": context["batch_size"].strip()} if context["batch_size"].strip() else None
        try:
            context["plan"] = deployment_selectors.plan_preview(
                application=app.name, environment=environment.name, version=version, strategy=strategy,
                queue=context["queue"],
            )
        except (PreflightRefused, ValidationError) as refusal:
            context["refusal"] = refusal
            context["may_override_freeze"] = (
                getattr(refusal, "code", "") == "freeze_window" and access.can("override_freeze", environment)
            )
    return context


def _create(request, access):
    form = DeploymentForm(request.POST, environments=access.environments("deploy"))
    if not form.is_valid():
        requested = request.POST.get("environment", "")
        environment = next((e for e in access.environments("view") if e.name == requested), None)
        if environment is not None and requested not in form.environments:
            access.require("deploy", environment)  # the 403 page, naming the role needed
        return render(request, "web/deploy.html", _context(request.POST, access, form=form), status=400)
    data = form.cleaned_data
    access.require("deploy", data["environment"])
    override = data["override_freeze"].strip()
    if override:
        access.require("override_freeze", data["environment"])
    try:
        deployment = services.deployment_create(
            application=data["application"].name, environment=data["environment"].name, version=data["version"],
            actor=request.user.get_username(), user=request.user, strategy=form.strategy(),
            queue=data["queue"], comment=data["comment"], override_freeze=override,
        )
    except (PreflightRefused, ValidationError) as refusal:
        context = _context(request.POST, access, error=refusal.message, form=form)
        return render(request, "web/deploy.html", context, status=400)
    return HttpResponseRedirect(reverse("deployment", args=[deployment.pk]))
