"""`orbiter` as a client of a remote Orbiter: every command here talks only HTTP to the REST
API (/api/v1/), with the URL and API token that `orbiter login` stored or that ORBITER_URL and
ORBITER_TOKEN give. Nothing in this package imports Django: it runs on a laptop or a CI agent
that has no database settings at all.

    credentials.py   where the URL and token live (~/.config/orbiter/credentials.toml, 0600)
    errors.py        the exit codes scripts rely on, and the one error type carrying them
    http.py          the API client: requests with timeouts and TLS verification, the error shape
    render.py        text and tables for people, JSON for scripts
    watch.py         following a deployment: rich live display on a terminal, lines otherwise
    commands.py      the argument parser and one function per command
"""
