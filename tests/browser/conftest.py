"""Browser tests: Debian's headless Chromium driven by Playwright against pytest-django's
live server, with the engine run by Celery's worker inside this process (the standalone
runtime, `orbiter/core/runtime.py`) on the PostgreSQL and Redis that `./lab/test` starts.

Without Chromium, PostgreSQL or Redis the tests are skipped with the reason; with
ORBITER_REQUIRE_SERVICES=1 (lab/test, CI) that is an error.
"""

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
# Flags that work here: root, no network beyond loopback, no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("ORBITER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (ORBITER_REQUIRE_SERVICES=1) but missing")
    pytest.skip(f"{what} not available: run the browser tests with ./lab/test")


@pytest.fixture
def engine(transactional_db, settings):
    """Celery's worker in this process, consuming from the test run's Redis, and the
    sweeper thread beside it; for one test (stopped before its data is flushed)."""
    _require("PostgreSQL", settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")
    broker = os.environ.get("ORBITER_BROKER_URL", "")
    _require("Redis (ORBITER_BROKER_URL)", broker.startswith("redis://"))
    import redis

    from orbiter.core.runtime import InProcessWorker

    redis.Redis.from_url(broker).flushdb()  # no task left over from an earlier test
    # The worker's threads close their connections after each task, so none is left open
    # on the test database when it is flushed and dropped.
    database = settings.DATABASES["default"]
    kept = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    worker = InProcessWorker(concurrency=4).start()
    yield worker
    worker.stop()
    database["CONN_MAX_AGE"] = kept


@pytest.fixture(scope="session")
def browser():
    _require(f"Chromium ({CHROMIUM}; apt-get install chromium)", shutil.which(CHROMIUM) is not None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("Playwright (pip install playwright)", False)
    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls
    # (and pytest-django's flush between tests) are still synchronous code, which Django
    # would otherwise refuse in this thread from now on.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        # launch() runs Chromium on a fresh temporary profile (its own --user-data-dir).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def site(browser, live_server, engine):
    """(live server URL, new_page(user) -> a signed-in page in its own browser context)."""
    contexts = []

    def new_page(username: str, password: str):
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield live_server.url, new_page
    for context in contexts:
        context.close()
