"""`orbiter-enc CERTNAME`: the External Node Classifier script Puppet runs. It fetches the
node's classification from Orbiter and prints it.

    puppet apply --node_terminus=exec --external_nodes=/usr/local/bin/orbiter-enc ...
    # puppet.conf on a Puppet server:  node_terminus = exec / external_nodes = /usr/local/bin/orbiter-enc

Puppet runs it with the certname as its only argument, so the rest comes from
/etc/orbiter-agent/enc.toml (url, token_file, ca_file), or ORBITER_ENC_URL,
ORBITER_ENC_TOKEN_FILE, ORBITER_ENC_CA_FILE, or flags. A non-zero exit tells Puppet the
node is unknown: the run fails rather than applying an empty catalog.

Orbiter's web service restarting or briefly down must not fail the run: a refused or
timed-out connection and a 5xx answer are retried with backoff (1 s, doubling to 8 s) for
up to `patience_s` (default 60 s, ORBITER_ENC_PATIENCE_S) in all. A 4xx answer (unknown
node, bad token) is final at once. When Orbiter stays unreachable, the line printed on
stdout (Puppet quotes it in its error) starts with UNREACHABLE: the agent then reports an
outage of the control plane, which does not use up the host's attempt.
"""

import argparse
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def fetch(url: str, certname: str, token: str, *, timeout: float = 10.0, ca_file: str | None = None) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--url: {url!r} must start with http:// or https://")
    target = f"{url.rstrip('/')}/puppet/enc/{urllib.parse.quote(certname, safe='')}"
    request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = None
    if ca_file:
        context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310 (scheme checked)
        return response.read().decode()


DEFAULT_CONFIG = "/etc/orbiter-agent/enc.toml"
DEFAULT_PATIENCE_S = 60.0
UNREACHABLE = "orbiter-enc: Orbiter unreachable"  # the agent looks for it in Puppet's output
FIRST_BACKOFF_S, MAX_BACKOFF_S = 1.0, 8.0
SETTINGS = ("url", "token_file", "ca_file", "patience_s")


class Unreachable(Exception):
    """Orbiter did not answer (refused, timed out, 5xx) within the patience."""


def fetch_patiently(url: str, certname: str, token: str, *, patience_s: float = DEFAULT_PATIENCE_S,
                    timeout: float = 10.0, ca_file: str | None = None, sleep=time.sleep,
                    clock=time.monotonic) -> str:
    """`fetch`, retried with backoff while Orbiter is unreachable, for `patience_s` in all."""
    deadline = clock() + patience_s
    backoff, tries = FIRST_BACKOFF_S, 0
    while True:
        tries += 1
        left = deadline - clock()
        try:
            return fetch(url, certname, token, timeout=max(0.5, min(timeout, left)), ca_file=ca_file)
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            why = f"HTTP {error.code}"
        except OSError as error:  # URLError: refused, reset, timed out; not a certificate refused
            reason = getattr(error, "reason", error)
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise
            why = str(reason)
        left = deadline - clock()
        if left <= 0:
            raise Unreachable(f"{UNREACHABLE} at {url} ({tries} tries in {patience_s:g} s; last: {why})")
        sleep(min(backoff, left))
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def _settings(args: argparse.Namespace) -> dict[str, str]:
    """Flags, else environment, else the config file."""
    import os
    import tomllib

    path = Path(args.config or os.environ.get("ORBITER_ENC_CONFIG", DEFAULT_CONFIG))
    file = tomllib.loads(path.read_text()) if path.is_file() else {}
    unknown = set(file) - set(SETTINGS)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; allowed: {', '.join(SETTINGS)}")
    return {
        name: getattr(args, name, None) or os.environ.get(f"ORBITER_ENC_{name.upper()}", "")
        or str(file.get(name, ""))
        for name in SETTINGS
    }


def _patience(value: str) -> float:
    try:
        patience = float(value) if value else DEFAULT_PATIENCE_S
    except ValueError:
        patience = -1.0
    if not 0 <= patience <= 600:
        raise ValueError(f"patience_s: {value!r} must be a number of seconds from 0 to 600")
    return patience


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbiter-enc", description=__doc__.splitlines()[0])
    parser.add_argument("certname")
    parser.add_argument("--url", help="Orbiter's base URL")
    parser.add_argument("--token-file", help="file holding the ENC bearer token")
    parser.add_argument("--ca-file", help="CA bundle to verify Orbiter's certificate")
    parser.add_argument("--config", help=f"settings file (default {DEFAULT_CONFIG})")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--patience-s", dest="patience_s",
                        help=f"retry an unreachable Orbiter this long in all (default {DEFAULT_PATIENCE_S:g})")
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        if not settings["url"]:
            raise ValueError("url: not set (--url, ORBITER_ENC_URL or url in the config file)")
        token = Path(settings["token_file"]).read_text().strip() if settings["token_file"] else ""
        patience = _patience(settings["patience_s"])
    except (OSError, ValueError) as error:
        sys.stderr.write(f"orbiter-enc: {error}\n")
        return 2
    try:
        sys.stdout.write(fetch_patiently(settings["url"], args.certname, token, patience_s=patience,
                                         timeout=args.timeout, ca_file=settings["ca_file"] or None))
    except urllib.error.HTTPError as error:
        return _fail(f"orbiter-enc: {error.code} {error.read().decode(errors='replace').strip()[:500]}")
    except (Unreachable, OSError, ValueError) as error:
        return _fail(str(error) if isinstance(error, Unreachable) else f"orbiter-enc: {error}")
    return 0


def _fail(line: str) -> int:
    """Puppet quotes the script's stdout (not its stderr) in the error it reports: say why
    on both."""
    sys.stdout.write(line + "\n")
    sys.stderr.write(line + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
