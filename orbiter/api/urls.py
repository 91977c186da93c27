"""/api/v1/… endpoints (one view per operation), the OpenAPI schema and its docs page."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from orbiter.api import errors
from orbiter.api.views import (
    accounts,
    audit,
    catalog,
    deployments,
    fleet,
    governance,
    inventory,
    metrics,
    pipelines,
    unassigned,
)

app_name = "api"


def both(reader, writer):
    """Two operations at one URL (GET lists or reads, POST creates, PATCH changes): each stays
    its own class with its own input and output serializers; this joins them for the URL."""
    joined = type(reader.__name__.removesuffix("List").removesuffix("Detail") + "Endpoint", (reader, writer),
                  {"__doc__": reader.__doc__, "__module__": reader.__module__})
    return joined.as_view()

v1 = [
    path("me", accounts.Me.as_view(), name="me"),
    path("tokens", both(accounts.TokenList, accounts.TokenCreate), name="tokens"),
    path("tokens/<int:token_id>", accounts.TokenRevoke.as_view(), name="token"),
    path("applications", catalog.ApplicationList.as_view(), name="applications"),
    path("applications/<slug:name>", catalog.ApplicationDetail.as_view(), name="application"),
    path("artifacts", both(catalog.ArtifactList, catalog.ArtifactRegister), name="artifacts"),
    path("applications/<slug:name>/pipeline", pipelines.ApplicationPipeline.as_view(), name="application-pipeline"),
    path("artifacts/<int:artifact_id>/why", pipelines.ArtifactWhy.as_view(), name="artifact-why"),
    path("artifacts/<int:artifact_id>/lead-time", metrics.ArtifactLeadTime.as_view(), name="artifact-lead-time"),
    path("artifacts/<int:artifact_id>/stage-overrides", pipelines.StageOverrideCreate.as_view(),
         name="artifact-stage-overrides"),
    path("pipeline-runs/<int:run_id>/approve", pipelines.RunApprove.as_view(), name="pipeline-run-approve"),
    path("pipeline-runs/<int:run_id>/retry", pipelines.RunRetry.as_view(), name="pipeline-run-retry"),
    path("gate-runs/<int:gate_run_id>/decide", pipelines.GateDecide.as_view(), name="gate-run-decide"),
    path("metrics/dora", metrics.DoraMetrics.as_view(), name="metrics-dora"),
    path("environments", catalog.EnvironmentList.as_view(), name="environments"),
    path("environments/<slug:name>", both(catalog.EnvironmentDetail, governance.EnvironmentProtect),
         name="environment"),
    path("environments/<slug:name>/hosts", catalog.HostList.as_view(), name="environment-hosts"),
    path("environments/<slug:name>/lock", governance.EnvironmentLock.as_view(), name="environment-lock"),
    path("environments/<slug:name>/unlock", governance.EnvironmentUnlock.as_view(), name="environment-unlock"),
    path("environments/<slug:name>/freezes", both(governance.FreezeList, governance.FreezeCreate),
         name="environment-freezes"),
    path("freezes/<int:freeze_id>", governance.FreezeDetail.as_view(), name="freeze"),
    path("plan", deployments.PlanPreview.as_view(), name="plan"),
    path("deployments", both(deployments.DeploymentList, deployments.DeploymentCreate), name="deployments"),
    path("deployments/<int:deployment_id>", deployments.DeploymentDetail.as_view(), name="deployment"),
    path("deployments/<int:deployment_id>/hosts", deployments.DeploymentHosts.as_view(), name="deployment-hosts"),
    path("deployments/<int:deployment_id>/events", deployments.DeploymentEvents.as_view(),
         name="deployment-events"),
    *(path(f"deployments/<int:deployment_id>/{action}", view.as_view(), name=f"deployment-{action}")
      for action, view in [
          ("pause", deployments.DeploymentPause), ("resume", deployments.DeploymentResume),
          ("cancel", deployments.DeploymentCancel), ("retry", deployments.DeploymentRetry),
          ("rollback", deployments.DeploymentRollback), ("approve", deployments.DeploymentApprove),
          ("reject", deployments.DeploymentReject),
      ]),
    path("unassigned-hosts", unassigned.UnassignedList.as_view(), name="unassigned-hosts"),
    path("unassigned-hosts/<str:certname>", unassigned.UnassignedForget.as_view(), name="unassigned-host"),
    *(path(f"unassigned-hosts/<str:certname>/{action}", view.as_view(), name=f"unassigned-host-{action}")
      for action, view in [("assign", unassigned.UnassignedAssign), ("reject", unassigned.UnassignedReject),
                           ("unreject", unassigned.UnassignedUnreject)]),
    path("approvals", deployments.ApprovalsInbox.as_view(), name="approvals"),
    path("events", audit.EventList.as_view(), name="events"),
    path("host-sources", inventory.HostSourceList.as_view(), name="host-sources"),
    path("host-sources/<slug:name>/sync", inventory.HostSourceSync.as_view(), name="host-source-sync"),
    path("apply", fleet.FleetApply.as_view(), name="fleet-apply"),
    path("export", fleet.FleetExport.as_view(), name="fleet-export"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file (the CSP allows no inline script);
    # Swagger UI's page keeps three lines of inline style, allowed on this page only.
    path("docs/", csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
         name="docs"),
    re_path(r"^.*$", errors.not_found),
]
