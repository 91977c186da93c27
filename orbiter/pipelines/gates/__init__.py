"""Gate kinds: command, http, jenkins, manual (see base.py for the seam)."""
