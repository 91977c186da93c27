"""Where new builds come from: yum repositories Orbiter polls."""

from django.db import models
from django.utils import timezone

MIN_POLL_INTERVAL_S = 5
DEFAULT_POLL_INTERVAL_S = 60


class YumRepository(models.Model):
    """A yum/dnf repository whose new packages become artifacts of the applications it feeds.

    A package feeds an application when its name is the application's `package`; when
    `applications` is not empty, only those applications are fed from this repository.
    """

    name = models.SlugField(max_length=63, unique=True)
    base_url = models.URLField(max_length=500, help_text="the directory holding repodata/, ending in /")
    applications = models.ManyToManyField(
        "catalog.Application", related_name="yum_repositories", blank=True,
        help_text="only these applications (empty: every application whose package is in the repository)",
    )
    poll_interval_s = models.PositiveIntegerField(default=DEFAULT_POLL_INTERVAL_S)
    enabled = models.BooleanField(default=True)

    # Conditional-request validators of the last repomd.xml read completely, and the primary
    # metadata it pointed at (a new repomd.xml with the same primary is nothing new).
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    primary_checksum = models.CharField(max_length=200, blank=True)
    # Digest of the package names that read looked for: when applications are added, the
    # repository is read again in full even though it has not changed.
    feeds_digest = models.CharField(max_length=64, blank=True)

    next_poll_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_changed_at = models.DateTimeField(null=True, blank=True, help_text="when new metadata was last read")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_found = models.PositiveIntegerField(default=0, help_text="artifacts registered by the last poll")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "yum repository"
        verbose_name_plural = "yum repositories"

    def __str__(self):
        return self.name

    @property
    def healthy(self) -> bool:
        return not self.last_error
