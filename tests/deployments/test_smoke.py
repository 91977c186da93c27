import pytest

from orbiter.deployments import services, states
from orbiter.deployments.models import Deployment
from tests.conftest import build_fleet


@pytest.mark.django_db(transaction=True)
def test_smoke(tasks):
    build_fleet(hosts=4, defaults={"batch_size": "2"})
    d = services.deployment_create(application="shop-api", environment="cert", version="1.0.0-1", actor="alice")
    tasks.run_until(lambda: Deployment.objects.get(pk=d.pk).status in states.COMPLETED)
    d.refresh_from_db()
    print(d.status, d.message, d.plan)
    assert d.status == "succeeded"
