"""Reads about hosts: what runs where, and where it differs from what Orbiter pinned."""

from dataclasses import dataclass

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
