"""Helpers the web tests share: deployments made through the services and run by the
in-memory task queue, and reading a page as text."""

import html as html_module
import re

from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment


def deploy(tasks, *, environment: str = "cert", version: str = "1.0.0-1", actor: str = "dora",
           until=states.SUCCEEDED, **options) -> Deployment:
    deployment = services.deployment_create(application="shop-api", environment=environment, version=version,
                                            actor=actor, **options)
    if until is not None:
        tasks.run_until(lambda: status(deployment) == until)
    return Deployment.objects.get(pk=deployment.pk)


def status(deployment: Deployment) -> str:
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)


def text(response) -> str:
    """The page as a person reads it: tags removed, whitespace collapsed."""
    page = response.content.decode()
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", page))).strip()
