from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from orbiter.metrics import views as metrics_views
from orbiter.puppet import agent_views
from orbiter.puppet import views as puppet_views

urlpatterns = [
    path("puppet/enc/<str:certname>", puppet_views.enc, name="puppet-enc"),
    path("agents/enroll", agent_views.enroll, name="agent-enroll"),
    path("metrics", metrics_views.metrics, name="metrics"),  # Prometheus (docs/metrics.md)
    path("admin/", admin.site.urls),
    path("api/", include("orbiter.api.urls")),  # REST API, OpenAPI schema and docs (docs/api.md)
    path("", include("orbiter.web.urls")),  # the web UI (last: its paths start at the root)
]

if "oidc" in settings.ORBITER_AUTH_METHODS:  # ORBITER_OIDC_CLIENT_ID set: /oidc/authenticate/, /oidc/callback/
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))
