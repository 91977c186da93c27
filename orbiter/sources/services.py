"""Writes for artifact sources: adding yum repositories, claiming the due ones, polling one."""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orbiter.artifacts.rpmversion import EVR
from orbiter.audit.services import event_record, field_changes
from orbiter.catalog import services as catalog
from orbiter.catalog.models import Application, Artifact
from orbiter.common import validators
from orbiter.common.errors import NotFound, OrbiterError, ValidationError
from orbiter.sources import repodata
from orbiter.sources.models import MIN_POLL_INTERVAL_S, YumRepository

log = logging.getLogger("orbiter.sources")

MAX_POLL_INTERVAL_S = 86400
URL_MAX = 500  # Artifact.source_url and YumRepository.base_url


@dataclass
class PollResult:
    repository: str
    changed: bool = False  # new metadata was read (not a 304, not the same primary)
    registered: list[str] = field(default_factory=list)  # NEVRAs registered by this poll
    skipped: list[str] = field(default_factory=list)  # packages refused by validation, with why
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


REPOSITORY_FIELDS = ("name", "base_url", "applications", "poll_interval_s", "enabled")


def repository_validate(fields: dict) -> dict:
    """What every write of a repository checks (create, update, the admin's form); returns
    the fields as stored (the base URL normalized, applications as objects)."""
    unknown = sorted(set(fields) - set(REPOSITORY_FIELDS))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a field of a repository; allowed: {', '.join(REPOSITORY_FIELDS)}",
                              field=unknown[0])
    validators.slug("name", fields.get("name"))
    poll_interval_s = fields.get("poll_interval_s", 60)
    if isinstance(poll_interval_s, bool) or not isinstance(poll_interval_s, int) or not (
        MIN_POLL_INTERVAL_S <= poll_interval_s <= MAX_POLL_INTERVAL_S
    ):
        raise ValidationError(
            f"poll_interval_s: {poll_interval_s!r} is not allowed; give whole seconds from "
            f"{MIN_POLL_INTERVAL_S} to {MAX_POLL_INTERVAL_S}", field="poll_interval_s",
        )
    if not isinstance(fields.get("enabled", True), bool):
        raise ValidationError("enabled: give true or false", field="enabled")
    return {**fields, "base_url": normalize_base_url(fields.get("base_url")), "poll_interval_s": poll_interval_s,
            "applications": _applications(list(fields.get("applications") or []))}


def repository_create(*, name: str, base_url: str, actor: str, applications: list[str] | None = None,
                      poll_interval_s: int = 60, enabled: bool = True) -> YumRepository:
    checked = repository_validate({"name": name, "base_url": base_url, "applications": applications or [],
                                   "poll_interval_s": poll_interval_s, "enabled": enabled})
    base_url, apps = checked["base_url"], checked["applications"]
    if YumRepository.objects.filter(name=name).exists():
        raise ValidationError(f"name: a repository named {name!r} exists already", field="name")
    with transaction.atomic():
        repo = YumRepository.objects.create(name=name, base_url=base_url, poll_interval_s=poll_interval_s,
                                            enabled=enabled)
        repo.applications.set(apps)
        event_record(actor=actor, verb="repository.create", obj=repo,
                     data={"base_url": base_url, "applications": [a.name for a in apps]})
    return repo


def repository_update(*, repository: YumRepository | int, actor: str, **changes) -> YumRepository:
    """Change a repository's name, URL, applications, interval or enabled flag (applications
    by name); one Event with the values before and after, none when nothing changed."""
    with transaction.atomic():
        pk = repository.pk if isinstance(repository, YumRepository) else repository
        repo = YumRepository.objects.select_for_update().filter(pk=pk).first()
        if repo is None:
            raise NotFound(f"repository #{pk} does not exist")
        before = {name: getattr(repo, name) for name in REPOSITORY_FIELDS if name != "applications"}
        before["applications"] = sorted(repo.applications.values_list("name", flat=True))
        after = repository_validate({**before, **changes})
        after["applications"] = sorted(a.name for a in after["applications"])
        if YumRepository.objects.filter(name=after["name"]).exclude(pk=repo.pk).exists():
            raise ValidationError(f"name: a repository named {after['name']!r} exists already", field="name")
        diff = field_changes(before, after)
        if not diff["after"]:
            return repo
        YumRepository.objects.filter(pk=repo.pk).update(
            **{k: v for k, v in after.items() if k != "applications" and before[k] != v})
        if before["applications"] != after["applications"]:
            repo.applications.set(_applications(after["applications"]))
        repo.refresh_from_db()
        event_record(actor=actor, verb="repository.update", obj=repo, data=diff)
    return repo


def repository_delete(*, repository: YumRepository | int, actor: str) -> None:
    """Stop watching a repository (the builds it registered stay)."""
    with transaction.atomic():
        pk = repository.pk if isinstance(repository, YumRepository) else repository
        repo = YumRepository.objects.select_for_update().filter(pk=pk).first()
        if repo is None:
            raise NotFound(f"repository #{pk} does not exist")
        event_record(actor=actor, verb="repository.delete", obj=repo,
                     data={"name": repo.name, "base_url": repo.base_url})
        repo.delete()


def normalize_base_url(url: str) -> str:
    """An http(s) URL of the directory holding repodata/, always ending in '/'."""
    allowed = "an http:// or https:// URL of the directory holding repodata/, without credentials, query or fragment"
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(f"base_url: required; allowed: {allowed}", field="base_url")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"base_url: {url!r} is not allowed; allowed: {allowed}", field="base_url")
    if parts.username or parts.password:
        raise ValidationError(
            f"base_url: {url!r} carries credentials; allowed: {allowed} (credentials never go in a URL)",
            field="base_url",
        )
    if parts.query or parts.fragment:
        raise ValidationError(f"base_url: {url!r} has a query or fragment; allowed: {allowed}", field="base_url")
    if url.endswith("/repodata/repomd.xml"):
        url = url[: -len("repodata/repomd.xml")]
    if not url.endswith("/"):
        url += "/"
    if len(url) > URL_MAX:
        raise ValidationError(f"base_url: longer than {URL_MAX} characters", field="base_url")
    return url


def _applications(names: list[str]) -> list[Application]:
    found = {a.name: a for a in Application.objects.filter(name__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        known = ", ".join(Application.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise ValidationError(
            f"applications: {', '.join(map(repr, unknown))} unknown; known: {known}", field="applications"
        )
    return [found[n] for n in dict.fromkeys(names)]


def repositories_claim_due(*, now=None) -> list[int]:
    """Ids of the enabled repositories whose poll is due, each claimed by moving its next poll
    one interval on with a compare-and-set: two schedulers or workers never poll one twice."""
    now = now or timezone.now()
    due = YumRepository.objects.filter(enabled=True, next_poll_at__lte=now).values_list(
        "pk", "next_poll_at", "poll_interval_s"
    )
    claimed = []
    for pk, at, interval in due:
        if YumRepository.objects.filter(pk=pk, next_poll_at=at).update(
            next_poll_at=now + timedelta(seconds=interval)
        ) == 1:
            claimed.append(pk)
    return claimed


def limits() -> repodata.Limits:
    return repodata.Limits(
        timeout_s=settings.ORBITER_REPO_TIMEOUT_S,
        download_timeout_s=max(settings.ORBITER_REPO_TIMEOUT_S, 600.0),
        max_download_bytes=settings.ORBITER_REPO_MAX_MB * 1024 * 1024,
        max_xml_bytes=settings.ORBITER_REPO_MAX_XML_MB * 1024 * 1024,
    )


def repository_poll(*, repository: YumRepository, force: bool = False, http=None) -> PollResult:
    """Read the repository if it changed and register its new packages of the applications it
    feeds. Never raises for a problem of the repository: the error is recorded on it (and in
    the result) and the next poll tries again from the start, since the conditional-request
    validators are only remembered after a complete read."""
    result = PollResult(repository.name)
    started = timezone.now()
    own = http is None
    http = http or repodata.session()
    try:
        _poll(repository, result, force=force, http=http)
    except repodata.RepositoryError as error:
        result.error = f"yum repository {repository.name}: {error.message}"
    except Exception as error:  # a bug or the database: recorded all the same, then raised
        _record_failure(repository, f"yum repository {repository.name}: unexpected {type(error).__name__}: {error}",
                        started)
        raise
    finally:
        if own:
            http.close()
    if result.error:
        log.warning("%s", result.error)
        _record_failure(repository, result.error, started)
    return result


def _poll(repo: YumRepository, result: PollResult, *, force: bool, http) -> None:
    lim = limits()
    feeds = _feeds(repo)
    feeds_digest = hashlib.sha256("\n".join(sorted(feeds)).encode()).hexdigest()
    force = force or feeds_digest != repo.feeds_digest
    repomd = repodata.fetch_repomd(http, repo.base_url, etag="" if force else repo.etag,
                                   last_modified="" if force else repo.last_modified, limits=lim)
    now = timezone.now()
    if repomd is None:
        _record_success(repo, checked=now)
        return
    primary = f"{repomd.checksum_type}:{repomd.checksum}"
    if primary == repo.primary_checksum and not force:
        _record_success(repo, checked=now, etag=repomd.etag, last_modified=repomd.last_modified)
        return
    packages = []
    if feeds:
        with repodata.fetch_primary(http, repomd, limits=lim) as raw:
            packages = list(repodata.iter_packages(raw, url=repomd.primary_url, base_url=repo.base_url,
                                                   names=set(feeds), limits=lim))
    _register(repo, packages, feeds, result)
    result.changed = True
    _record_success(repo, checked=now, etag=repomd.etag, last_modified=repomd.last_modified, primary=primary,
                    found=len(result.registered), feeds_digest=feeds_digest)


def _feeds(repo: YumRepository) -> dict[str, list[Application]]:
    """Package name -> the applications it feeds from this repository."""
    apps = list(repo.applications.all()) or list(Application.objects.all())
    feeds: dict[str, list[Application]] = {}
    for app in apps:
        feeds.setdefault(app.package, []).append(app)
    return feeds


def _register(repo: YumRepository, packages: list[repodata.Package], feeds: dict[str, list[Application]],
              result: PollResult) -> None:
    app_ids = [a.pk for apps in feeds.values() for a in apps]
    known = set(
        Artifact.objects.filter(application_id__in=app_ids).values_list(
            "application_id", "epoch", "version", "release", "arch"
        )
    )
    new = []
    for package in packages:
        for app in feeds.get(package.name, []):
            if (app.pk, package.epoch, package.version, package.release, package.arch) not in known:
                new.append((app, package))
    # Oldest first, so that when several builds appear at once the newest is announced last.
    new.sort(key=lambda pair: (pair[0].name, _sort_key(pair[1]), pair[1].arch))
    for app, package in new:
        source_url = package.url if len(package.url) <= URL_MAX else ""
        try:
            catalog.artifact_register(application=app, nevra=package.nevra, actor=f"yum:{repo.name}",
                                      source_url=source_url, checksum=package.checksum)
        except OrbiterError as error:
            result.skipped.append(f"{package.nevra}: {error.message}")
            log.warning("yum repository %s: skipped %s: %s", repo.name, package.nevra, error.message)
            continue
        result.registered.append(package.nevra)
    if result.registered:
        log.info("yum repository %s: registered %s", repo.name, ", ".join(result.registered))


def _sort_key(package: repodata.Package):
    try:
        return EVR(package.epoch, package.version, package.release)
    except ValueError:
        return EVR(0, "0", "0")  # refused by artifact_register anyway


def _record_success(repo: YumRepository, *, checked, etag=None, last_modified=None, primary=None,
                    found=None, feeds_digest="") -> None:
    changes = {"last_checked_at": checked, "last_success_at": checked, "last_error": "", "last_error_at": None,
               "next_poll_at": timezone.now() + timedelta(seconds=repo.poll_interval_s)}
    if etag is not None:
        changes.update(etag=etag[:200], last_modified=last_modified[:100])
    if primary is not None:
        changes.update(primary_checksum=primary[:200], last_changed_at=checked, last_found=found or 0,
                       feeds_digest=feeds_digest)
    YumRepository.objects.filter(pk=repo.pk).update(**changes)
    for name, value in changes.items():
        setattr(repo, name, value)


def _record_failure(repo: YumRepository, message: str, checked) -> None:
    changes = {"last_checked_at": checked, "last_error": message, "last_error_at": checked,
               "next_poll_at": timezone.now() + timedelta(seconds=repo.poll_interval_s)}
    YumRepository.objects.filter(pk=repo.pk).update(**changes)
    for name, value in changes.items():
        setattr(repo, name, value)
