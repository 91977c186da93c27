"""`orbiter-enc CERTNAME`: the External Node Classifier script Puppet runs. It fetches the
node's classification from Orbiter and prints it.

    puppet apply --node_terminus=exec --external_nodes=/usr/local/bin/orbiter-enc ...
    # puppet.conf on a Puppet server:  node_terminus = exec / external_nodes = /usr/local/bin/orbiter-enc

Puppet runs it with the certname as its only argument, so the rest comes from
/etc/orbiter-agent/enc.toml (url, token_file, ca_file), or ORBITER_ENC_URL,
ORBITER_ENC_TOKEN_FILE, ORBITER_ENC_CA_FILE, or flags. A non-zero exit tells Puppet the
node is unknown: the run fails rather than applying an empty catalog.
"""

import argparse
import sys
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
        import ssl

        context = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310 (scheme checked)
        return response.read().decode()


DEFAULT_CONFIG = "/etc/orbiter-agent/enc.toml"


def _settings(args: argparse.Namespace) -> dict[str, str]:
    """Flags, else environment, else the config file."""
    import os
    import tomllib

    path = Path(args.config or os.environ.get("ORBITER_ENC_CONFIG", DEFAULT_CONFIG))
    file = tomllib.loads(path.read_text()) if path.is_file() else {}
    unknown = set(file) - {"url", "token_file", "ca_file"}
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; allowed: url, token_file, ca_file")
    return {
        name: getattr(args, name) or os.environ.get(f"ORBITER_ENC_{name.upper()}", "") or str(file.get(name, ""))
        for name in ("url", "token_file", "ca_file")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbiter-enc", description=__doc__.splitlines()[0])
    parser.add_argument("certname")
    parser.add_argument("--url", help="Orbiter's base URL")
    parser.add_argument("--token-file", help="file holding the ENC bearer token")
    parser.add_argument("--ca-file", help="CA bundle to verify Orbiter's certificate")
    parser.add_argument("--config", help=f"settings file (default {DEFAULT_CONFIG})")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        if not settings["url"]:
            raise ValueError("url: not set (--url, ORBITER_ENC_URL or url in the config file)")
        token = Path(settings["token_file"]).read_text().strip() if settings["token_file"] else ""
    except (OSError, ValueError) as error:
        sys.stderr.write(f"orbiter-enc: {error}\n")
        return 2
    args.url, args.ca_file = settings["url"], settings["ca_file"] or None
    try:
        sys.stdout.write(fetch(args.url, args.certname, token, timeout=args.timeout, ca_file=args.ca_file))
    except urllib.error.HTTPError as error:
        sys.stderr.write(f"orbiter-enc: {error.code} {error.read().decode(errors='replace').strip()}\n")
        return 1
    except (OSError, ValueError) as error:
        sys.stderr.write(f"orbiter-enc: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
