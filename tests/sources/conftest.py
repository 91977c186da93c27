import shutil

import pytest

from orbiter.catalog import services as catalog
from tests.sources.support import RepoServer, Repository, RpmFactory


@pytest.fixture(scope="session")
def rpms(tmp_path_factory):
    if not (shutil.which("rpmbuild") and shutil.which("createrepo_c")):
        pytest.fail("rpmbuild and createrepo_c are needed: lab/services.py ensure-installed --services rpm,createrepo")
    return RpmFactory(tmp_path_factory.mktemp("rpmbuild"))


@pytest.fixture
def repo(tmp_path, rpms):
    return Repository(tmp_path / "repo", rpms)


@pytest.fixture
def server(repo):
    with RepoServer(repo.root) as running:
        yield running


@pytest.fixture
def shop(db):
    return catalog.application_create(name="shop-api", package="shop-api", actor="admin")
