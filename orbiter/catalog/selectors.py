"""Reads about hosts: what runs where, and where it differs from what Orbiter pinned."""

from dataclasses import dataclass

from django.db.models import F

from orbiter.catalog.models import Host, Pin


@dataclass(frozen=True)
class HostVersion:
    certname: str
    environment: str
    application: str
    package: str
    pinned: str | None  # version-release Orbiter told Puppet to install
    installed: str | None  # what the agent last reported; None: not installed or not reported
    reported: bool  # the agent reported this package at all

    @property
    def drift(self) -> bool:
        """Pinned and installed disagree (only judged once the agent reported the package)."""
        return self.reported and self.pinned is not None and self.pinned != self.installed


def host_versions(*, environment: str | None = None) -> list[HostVersion]:
    hosts = Host.objects.select_related("environment").prefetch_related("applications").order_by("certname")
    if environment:
        hosts = hosts.filter(environment__name=environment)
    pins = {
        (pin.host_id, pin.application_id): pin.artifact.label
        for pin in Pin.objects.select_related("artifact").filter(host__in=hosts)
    }
    rows = []
    for host in hosts:
        packages = (host.facts or {}).get("packages") or {}
        for app in host.applications.all():
            rows.append(HostVersion(
                certname=host.certname,
                environment=host.environment.name,
                application=app.name,
                package=app.package,
                pinned=pins.get((host.pk, app.pk)),
                installed=packages.get(app.package),
                reported=app.package in packages,
            ))
    return rows


def active_hosts():
    """Every host but the retired (gone from their PuppetDB source): the only hosts a
    deployment, a rollback, a retry or a pipeline stage may select."""
    return Host.objects.filter(retired_at__isnull=True)


def deployable_hosts(*, environment, application):
    """The hosts a deployment of `application` to `environment` targets."""
    return active_hosts().filter(environment=environment, applications=application)


def current_versions(*, environment, application_ids) -> dict:
    """{application id: Artifact}: the version `environment` runs now of each application, the
    newest version pinned on its active hosts there. The same level a deployment's preflight
    refuses to go below without a rollback; a host joining the environment is pinned to it,
    so the ENC gives it that version from its first Puppet run. An application with nothing
    pinned there yet has no entry."""
    from orbiter.catalog.models import Artifact

    # Pins of hosts still running the application, as a deployment's preflight counts them.
    pins = (Pin.objects.filter(application_id__in=list(application_ids), host__environment=environment,
                               host__retired_at__isnull=True, host__applications=F("application_id"))
            .values_list("application_id", "artifact_id").distinct())
    by_app: dict[int, set[int]] = {}
    for app_id, artifact_id in pins:
        by_app.setdefault(app_id, set()).add(artifact_id)
    artifacts = Artifact.objects.in_bulk({pk for ids in by_app.values() for pk in ids})
    return {app_id: max((artifacts[pk] for pk in ids), key=lambda artifact: artifact.evr)
            for app_id, ids in by_app.items()}
