"""`python -m orbiter_agent ...` is `orbiter-agent ...`."""

import sys

from orbiter_agent.keys_cli import main

sys.exit(main())
