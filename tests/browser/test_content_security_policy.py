"""In a real browser, nothing Orbiter serves breaks its Content-Security-Policy: the UI with
htmx (preview, live progress), the API docs (Swagger UI) and the admin log no violation."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.browser.test_deploy_in_the_browser import FINISH_S, PASSWORD, SLOW, person
from tests.conftest import build_fleet

pytestmark = pytest.mark.integration


def test_no_page_breaks_the_content_security_policy(site):
    url, new_page = site
    build_fleet(hosts=2, environment="cert", converge=SLOW)
    person("ada", "admin")
    User.objects.filter(username="ada").update(is_staff=True, is_superuser=True)
    page = new_page("ada", PASSWORD)
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)

    page.goto("/deploy/")
    page.select_option("#id_environment", "cert")
    expect(page.locator("#preview")).to_contain_text("Preflight passed")  # htmx works under the policy
    page.click("button:has-text('Deploy')")
    page.wait_for_url(f"{url}/deployments/*/")
    expect(page.locator("#deployment-status")).to_contain_text("succeeded", timeout=FINISH_S)
    assert page.locator("svg.bar rect.done").get_attribute("width") == "100"
    assert page.locator("svg.bar").bounding_box()["width"] > 50  # drawn, not collapsed

    page.goto("/")
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    page.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto("/admin/auth/user/add/")
    expect(page.locator("#id_username")).to_be_visible()

    assert violations == []
