"""The web UI's routes (included at the site root by orbiter/urls.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from orbiter.web.views import (
    applications,
    approvals,
    audit,
    common,
    dashboard,
    deploy,
    deployments,
    environments,
    inventory,
    pipelines,
    unassigned,
)

urlpatterns = [
    # Django's default LOGIN_URL, so @login_required needs no setting.
    path("accounts/login/", common.SignIn.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/accounts/login/"), name="logout"),
    path("", dashboard.dashboard, name="dashboard"),
    path("active", dashboard.active_partial, name="dashboard-active"),
    path("applications/<slug:name>/", applications.application, name="application"),
    path("pipeline-runs/<int:run_id>/approve", pipelines.run_approve, name="pipeline-run-approve"),
    path("pipeline-runs/<int:run_id>/retry", pipelines.run_retry, name="pipeline-run-retry"),
    path("gate-runs/<int:gate_run_id>/decide", pipelines.gate_decide, name="gate-run-decide"),
    path("deploy/", deploy.new_deployment, name="deploy"),
    path("deploy/preview", deploy.preview, name="deploy-preview"),
    path("deployments/", deployments.deployments, name="deployments"),
    path("deployments/<int:deployment_id>/", deployments.deployment_page, name="deployment"),
    path("deployments/<int:deployment_id>/live", deployments.deployment_live, name="deployment-live"),
    path("deployments/<int:deployment_id>/hosts/<int:host_deployment_id>/", deployments.deployment_host,
         name="deployment-host"),
    path("deployments/<int:deployment_id>/<slug:name>", deployments.deployment_action, name="deployment-action"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("environments/", environments.environments, name="environments"),
    path("environments/<slug:name>/", environments.environment, name="environment"),
    path("environments/<slug:name>/lock", environments.environment_lock, name="environment-lock"),
    path("environments/<slug:name>/unlock", environments.environment_unlock, name="environment-unlock"),
    path("audit/", audit.audit, name="audit"),
    path("unassigned-hosts/", unassigned.unassigned_hosts, name="unassigned-hosts"),
    path("unassigned-hosts/<str:certname>/assign", unassigned.unassigned_assign, name="unassigned-host-assign"),
    path("unassigned-hosts/<str:certname>/reject", unassigned.unassigned_reject, name="unassigned-host-reject"),
    path("unassigned-hosts/<str:certname>/unreject", unassigned.unassigned_unreject,
         name="unassigned-host-unreject"),
    path("host-sources/", inventory.host_sources, name="host-sources"),
    path("host-sources/<slug:name>/sync", inventory.host_source_sync, name="host-source-sync"),
    path("healthz", common.healthz, name="healthz"),
]
