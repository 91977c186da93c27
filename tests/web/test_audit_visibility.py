"""The audit page shows each user what they may see: nothing of an environment they have no
role in, nobody else's API tokens; a search it cannot run is a 400 naming the field."""

import pytest

from orbiter.accounts.services import role_grant
from orbiter.accounts.tokens import token_create
from tests.web.conftest import client_for, user
from tests.web.support import deploy, text


@pytest.fixture
def cert_only(fleet, cast, settings):
    """carl may view cert and nothing else."""
    settings.ORBITER_DEFAULT_ROLE = ""
    user("carl", None)
    role_grant(role="viewer", user="carl", environment="cert", actor="ada")
    return client_for("carl")


def test_a_user_who_may_view_only_cert_reads_nothing_of_production(cert_only, cast, tasks):
    hidden = deploy(tasks, environment="production", version="1.0.0-1", actor="dora", until=None)
    shown = deploy(tasks, environment="cert", version="1.0.0-1", actor="dora", until=None)
    assert cert_only.get(f"/deployments/{hidden.pk}/").status_code == 403

    page = text(cert_only.get("/audit/"))
    by_object = text(cert_only.get(f"/audit/?object=deployment:{hidden.pk}"))

    assert f"deployment #{shown.pk}" in page
    assert f"deployment #{hidden.pk}" not in page and "production" not in page
    assert "No events match." in by_object


def test_another_users_token_is_not_in_the_trail(cert_only, cast):
    token_create(user=cast["dora"], name="dora-jenkins", actor="dora")

    assert "dora-jenkins" not in text(cert_only.get("/audit/?verb=token."))
    assert "dora-jenkins" not in text(client_for("dan").get("/audit/?verb=token."))
    assert "dora-jenkins" in text(client_for("dora").get("/audit/?verb=token."))
    assert "dora-jenkins" in text(client_for("ada").get("/audit/?verb=token."))


@pytest.mark.parametrize("field", ["actor", "verb", "object", "q"])
def test_a_search_with_a_nul_character_is_refused_naming_the_field(fleet, cast, field):
    refused = client_for("viola").get("/audit/", {field: "shop\x00api"})

    assert refused.status_code == 400
    assert f"{field}: NUL characters are not allowed" in text(refused)
