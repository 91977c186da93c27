"""Every page is sent with a Content-Security-Policy that allows only Orbiter's own scripts
and styles, and no page needs more: no inline <script>, no style="" attribute, no inline
<style> (the progress bars are SVGs). The browser test (tests/browser) runs htmx under it."""

import re

import pytest

from tests.web.conftest import client_for
from tests.web.support import deploy

PAGES = ["/", "/active", "/applications/shop-api/", "/deploy/", "/deployments/", "/approvals/",
         "/environments/", "/environments/cert/", "/audit/"]


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def test_the_sign_in_page_allows_only_its_own_scripts_and_styles(client, db):
    directives = policy(client.get("/accounts/login/"))

    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self'"
    assert directives["object-src"] == "object-src 'none'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["form-action"] == "form-action 'self'"


@pytest.mark.parametrize("url", PAGES)
def test_no_page_has_inline_scripts_or_styles(fleet, cast, tasks, url):
    from orbiter.deployments.models import Deployment

    deployment = deploy(tasks, environment="cert", version="1.0.0-1")
    viewer = client_for("ada")
    for address in (url, f"/deployments/{deployment.pk}/", f"/deployments/{deployment.pk}/live"):
        response = viewer.get(address)
        assert response.status_code == 200, address
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        page = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), f"inline <script> on {address}"
        assert not re.search(r"\sstyle=", page), f"style attribute on {address}"
        assert "<style" not in page, f"inline <style> on {address}"
        assert not re.search(r"\son[a-z]+=", page), f"inline event handler on {address}"
    assert Deployment.objects.count() == 1


def test_the_api_docs_load_their_script_as_a_file(fleet, cast):
    viewer = client_for("ada")
    page = viewer.get("/api/docs/")

    assert page.status_code == 200
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.content.decode())
    script = re.search(r'<script src="(/api/docs/\?[^"]*script=[^"]*)"', page.content.decode())
    assert script, "the start-up script is a file"
    assert viewer.get(script.group(1).replace("&amp;", "&")).status_code == 200
    assert "script-src 'self'" in page["Content-Security-Policy"]
