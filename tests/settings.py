"""Test settings: the real settings module in test mode (no secret key needed)."""

import os

os.environ.setdefault("ORBITER_MODE", "test")

from orbiter.settings import *  # noqa: E402,F403
