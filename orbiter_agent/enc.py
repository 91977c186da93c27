"""The External Node Classifier script Puppet runs: fetch a node's classification from
Orbiter and print it.

    puppet apply --node_terminus=exec --external_nodes=/usr/local/bin/orbiter-enc ...
    # /usr/local/bin/orbiter-enc:  exec orbiter-agent enc --url https://orbiter.example --token-file /etc/orbiter/enc.token "$1"

Puppet passes the certname as the last argument; a non-zero exit tells Puppet the node
is unknown (the run fails rather than applying an empty catalog).
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbiter-agent enc", description=__doc__.splitlines()[0])
    parser.add_argument("certname")
    parser.add_argument("--url", required=True, help="Orbiter's base URL")
    parser.add_argument("--token-file", help="file holding the ENC bearer token")
    parser.add_argument("--ca-file", help="CA bundle to verify Orbiter's certificate")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    token = Path(args.token_file).read_text().strip() if args.token_file else ""
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
