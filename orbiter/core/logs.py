"""One log format for every control-plane process (web, worker, scheduler, listen) and the
libraries in them (Celery, stomp.py, Django's 500s): JSON lines (ORBITER_LOG_FORMAT=json,
the default in server mode) or timestamped plain lines, configured once in settings.LOGGING.
Celery is told not to set up its own (see orbiter/celery.py).

An idle control plane stays quiet: the periodic sweeps run every ORBITER_SWEEP_SECONDS,
and the scheduler's "Sending due task" and the worker's "received" / "succeeded" lines of
a sweep that found nothing to do are dropped (a sweep that did something is logged).
"""

import logging
import re

# The periodic tasks orbiter/celery.py schedules.
PERIODIC_TASKS = frozenset({
    "orbiter.deployments.sweep",
    "orbiter.pipelines.sweep",
    "orbiter.sources.poll_due",
    "orbiter.notifications.sweep",
})
_SOME_WORK = re.compile(r"[1-9]")  # a count above 0 in the task's return value (an int or a dict of counts)


class QuietPeriodicTasks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        if record.name == "celery.beat":
            return not (isinstance(record.msg, str) and record.msg.startswith("Scheduler: Sending due task")
                        and _periodic(record.args))
        if record.name in ("celery.worker.strategy", "celery.app.trace") and isinstance(record.args, dict):
            if record.args.get("name") not in PERIODIC_TASKS:
                return True
            result = record.args.get("return_value")
            return result is not None and bool(_SOME_WORK.search(str(result)))
        return True


def _periodic(args) -> bool:
    return isinstance(args, tuple) and len(args) == 2 and args[1] in PERIODIC_TASKS


def logging_config(*, format: str, level: str) -> dict:
    """settings.LOGGING: everything through one handler on the root logger, Orbiter's own
    loggers at `level`, Celery's at INFO, every other library's at WARNING."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"quiet_periodic": {"()": "orbiter.core.logs.QuietPeriodicTasks"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(processName)s[%(process)d] %(name)s: %(message)s"},
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(processName)s %(process)d %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger",
                                  "processName": "process_name", "process": "pid", "exc_info": "traceback"},
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": format, "filters": ["quiet_periodic"]},
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            "orbiter": {"level": level},
            "celery": {"level": "INFO"},
        },
    }
