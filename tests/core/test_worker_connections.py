"""A Celery worker keeps its database connection from one task to the next (a new
PostgreSQL connection costs more than an engine round's queries) and replaces one that is
too old or broken, as Django does between requests."""

from types import SimpleNamespace

import pytest
from django.db import connection

from orbiter.celery import _recycle_database_connections

pytestmark = pytest.mark.django_db(transaction=True)

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="PostgreSQL only: the tests' in-memory SQLite database is never closed")
def test_the_connection_outlives_a_task_until_it_is_too_old():
    connection.ensure_connection()
    before = connection.connection
    _recycle_database_connections(sender=TASK)  # after one task, before the next
    assert connection.connection is before
    connection.close_at = 0  # older than CONN_MAX_AGE
    _recycle_database_connections(sender=TASK)
    assert connection.connection is None
    with connection.cursor() as cursor:  # and the next task simply connects again
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_an_eager_task_leaves_its_callers_connection_alone():
    connection.ensure_connection()
    before = connection.connection
    _recycle_database_connections(sender=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert connection.connection is before
