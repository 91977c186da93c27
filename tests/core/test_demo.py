"""The README's first command: `orbiter demo` rolls two versions through three environments."""

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_ends_with_a_line_saying_it_succeeded(tmp_path):
    orbiter = Path(sys.executable).with_name("orbiter")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITER_") and k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [str(orbiter), "demo", "--hosts", "2", "--converge", "0.1"],
        env={**env, "HOME": str(tmp_path), "COLUMNS": "80"}, capture_output=True, text=True, timeout=180,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert "succeeded" in lines[-1]
    assert "shop-api 1.1.0-1 runs on all 2 production host(s) after 6 deployments" in lines[-1]
