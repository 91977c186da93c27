"""Orbiter control plane."""

from orbiter.celery import app as celery_app

__all__ = ["celery_app"]
