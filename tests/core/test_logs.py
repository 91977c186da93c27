"""Every process logs through one format: a library's own lines (stomp.py, in `orbiter
listen`) and the web's 500s (with their traceback) come out as JSON lines with a time."""

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import path

from orbiter.core.logs import QuietPeriodicTasks, logging_config


def boom(request):
    raise RuntimeError("the database said no")


urlpatterns = [path("boom", boom)]


@pytest.fixture
def json_logs():
    """The server's logging (JSON), its one handler writing to a buffer; lines as dicts."""
    logging.config.dictConfig(logging_config(format="json", level="INFO"))
    [handler] = logging.getLogger().handlers
    handler.setStream(buffer := io.StringIO())
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logging.config.dictConfig(settings.LOGGING)


def test_a_library_line_such_as_stomp_py_s_is_a_timestamped_json_line(json_logs):
    logging.getLogger("stomp.py").warning("Lost connection to %s", ("127.0.0.1", 61613))

    [line] = json_logs()
    assert line["logger"] == "stomp.py" and line["level"] == "WARNING"
    assert line["message"] == "Lost connection to ('127.0.0.1', 61613)" and line["time"][:2] == "20"


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_the_web_logs_a_500_with_its_traceback_on_one_line(client, json_logs):
    client.raise_request_exception = False

    assert client.get("/boom").status_code == 500

    [line] = [entry for entry in json_logs() if entry["logger"] == "django.request"]
    assert line["level"] == "ERROR" and "/boom" in line["message"]
    assert "RuntimeError: the database said no" in line["traceback"]


def record(name: str, args, level=logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "%(name)s", (args,), None)


@pytest.mark.parametrize(("logger", "args", "kept"), [
    ("celery.worker.strategy", {"name": "orbiter.deployments.sweep", "id": "1"}, False),
    ("celery.app.trace", {"name": "orbiter.deployments.sweep", "return_value": "0"}, False),
    ("celery.app.trace", {"name": "orbiter.pipelines.sweep", "return_value": "{'expired': 0, 'runs': 0}"}, False),
    ("celery.app.trace", {"name": "orbiter.deployments.sweep", "return_value": "2"}, True),
    ("celery.app.trace", {"name": "orbiter.pipelines.sweep", "return_value": "{'expired': 0, 'runs': 1}"}, True),
    ("celery.worker.strategy", {"name": "orbiter.deployments.advance", "id": "1"}, True),
    ("celery.app.trace", {"name": "orbiter.deployments.advance", "return_value": "None"}, True),
])
def test_only_the_periodic_sweeps_that_found_nothing_to_do_are_left_out(logger, args, kept):
    assert QuietPeriodicTasks().filter(record(logger, args)) is kept


def test_the_scheduler_does_not_announce_each_sweep_but_announces_other_tasks():
    def sending(task):
        return logging.LogRecord("celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
                                 ("sweep", task), None)

    assert QuietPeriodicTasks().filter(sending("orbiter.deployments.sweep")) is False
    assert QuietPeriodicTasks().filter(sending("orbiter.reports.weekly")) is True
