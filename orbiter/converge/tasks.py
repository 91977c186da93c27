from celery import shared_task

from orbiter.converge.drivers import simulated
from orbiter.converge.services import converge_results_settle


@shared_task(name="orbiter.converge.simulated")
def simulated_converge(requests: list[dict], options: dict) -> None:
    converge_results_settle(simulated.perform(requests, options))
