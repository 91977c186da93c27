"""Prometheus metrics read from the database at each scrape (a custom collector: a handful
of aggregate queries, no state in the process, so every web process answers the same)."""

from django.conf import settings
from django.db.models import Count
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily

from orbiter.catalog.models import Artifact
from orbiter.metrics.selectors import dora
from orbiter.sources.models import YumRepository

PAIR = ["application", "environment"]


class OrbiterCollector:
    def describe(self):
        return []  # no collect() at registration: it would query the database at import

    def collect(self):
        days = settings.ORBITER_METRICS_WINDOW_DAYS
        window = f"over the last {days} days"
        yield from self._dora(days, window)
        yield self._artifacts()
        yield from self._repositories()

    def _dora(self, days: int, window: str):
        report = dora(days=days)
        families = {
            "deployments": GaugeMetricFamily(
                "orbiter_dora_deployments", f"Deployments that succeeded {window} (rollbacks excluded)", labels=PAIR),
            "frequency": GaugeMetricFamily(
                "orbiter_dora_deployment_frequency_per_day", f"Successful deployments per day {window}", labels=PAIR),
            "lead": GaugeMetricFamily(
                "orbiter_dora_lead_time_seconds",
                f"Artifact found to first successful deployment in the environment {window} (median, p90)",
                labels=[*PAIR, "quantile"]),
            "failures": GaugeMetricFamily(
                "orbiter_dora_failed_deployments", f"Deployments that failed or were rolled back {window}",
                labels=PAIR),
            "cfr": GaugeMetricFamily(
                "orbiter_dora_change_failure_rate", f"Failed or rolled back / finished deployments {window}",
                labels=PAIR),
            "restore": GaugeMetricFamily(
                "orbiter_dora_time_to_restore_seconds",
                f"Failed deployment to the next successful one {window} (median, p90)", labels=[*PAIR, "quantile"]),
            "unrestored": GaugeMetricFamily(
                "orbiter_dora_unrestored_failures", f"Failures {window} not yet followed by a success", labels=PAIR),
        }
        for g in report["groups"]:
            pair = [g["application"], g["environment"]]
            families["deployments"].add_metric(pair, g["deployments"])
            families["frequency"].add_metric(pair, g["deployment_frequency_per_day"])
            families["failures"].add_metric(pair, g["failures"])
            families["unrestored"].add_metric(pair, g["unrestored"])
            if g["change_failure_rate"] is not None:  # unknown, not zero, when nothing finished
                families["cfr"].add_metric(pair, g["change_failure_rate"])
            for key, family in (("lead_time_s", "lead"), ("time_to_restore_s", "restore")):
                for quantile, field in (("0.5", "median"), ("0.9", "p90")):
                    if g[key][field] is not None:
                        families[family].add_metric([*pair, quantile], g[key][field])
        yield from families.values()
        yield GaugeMetricFamily("orbiter_dora_window_days", "Window of the orbiter_dora_* metrics, in days",
                                value=days)

    def _artifacts(self):
        family = CounterMetricFamily("orbiter_artifacts_found", "Builds registered (yum watcher or CI)",
                                     labels=["application"])
        for name, count in (Artifact.objects.values_list("application__name").annotate(n=Count("id"))
                            .order_by("application__name")):
            family.add_metric([name], count)
        return family

    def _repositories(self):
        up = GaugeMetricFamily("orbiter_yum_repository_up", "1 if the last poll of the repository succeeded",
                               labels=["repository"])
        last = GaugeMetricFamily("orbiter_yum_repository_last_success_timestamp_seconds",
                                 "When the repository was last read successfully (Unix time)", labels=["repository"])
        for repo in YumRepository.objects.filter(enabled=True).only("name", "last_error", "last_success_at"):
            up.add_metric([repo.name], 0 if repo.last_error else 1)
            if repo.last_success_at:
                last.add_metric([repo.name], repo.last_success_at.timestamp())
        yield up
        yield last


registry = CollectorRegistry(auto_describe=False)
registry.register(OrbiterCollector())
