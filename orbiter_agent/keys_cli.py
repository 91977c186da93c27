"""`orbiter-agent`: `keygen` makes a key pair; `enroll` offers it to Orbiter (see
enroll.py); `run` starts the agent (see daemon.py).

    orbiter-agent run --config /etc/orbiter-agent/agent.toml

`keygen` makes an agent's (or the control plane's) Ed25519 key pair:

    orbiter-agent keygen --out /etc/orbiter-agent/keys [--name web-01.example.test]

writes `<name>.key` (mode 0600, stays on the host) and `<name>.pub` (goes to the other
side's key directory), and prints the key's fingerprint, the string an admin compares
before trusting it. The name defaults to this host's FQDN, as Puppet's certname does.
An existing key is never overwritten: delete it first if you mean to replace it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from orbiter_agent.keys import (
    PRIVATE_SUFFIX,
    PUBLIC_SUFFIX,
    fingerprint,
    generate_keypair,
    parse_public_key,
    write_private_key,
    write_public_key,
)
from orbiter_agent.schema import ProtocolError, check_sender


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orbiter-agent", description="Orbiter node agent.")
    commands = parser.add_subparsers(dest="command", required=True)
    keygen_parser = commands.add_parser("keygen", help="create a signing key pair")
    keygen_parser.add_argument("--out", required=True, type=Path, help="directory for the keys")
    keygen_parser.add_argument(
        "--name", help="certname (or 'control-plane'); default: this host's FQDN"
    )
    run_parser = commands.add_parser("run", help="run the agent until SIGTERM")
    run_parser.add_argument("--config", required=True, help="the agent's TOML file")
    enroll_parser = commands.add_parser("enroll", help="offer this agent's public key to Orbiter")
    enroll_parser.add_argument("--config", required=True, help="the agent's TOML file")
    enroll_parser.add_argument("--url", required=True, help="Orbiter's base URL")
    token = enroll_parser.add_mutually_exclusive_group()
    token.add_argument("--token", help="one-time enrollment token (visible in ps: prefer a file)")
    token.add_argument("--token-file", help="file holding the one-time enrollment token")
    enroll_parser.add_argument("--ca-file", help="CA bundle for Orbiter's https certificate")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.config)
    if args.command == "enroll":
        from orbiter_agent.enroll import enroll

        return enroll(
            args.config,
            args.url,
            token=args.token,
            token_file=args.token_file,
            ca_file=args.ca_file,
        )
    name = args.name if args.name is not None else socket.getfqdn().lower()
    try:
        check_sender(name, field="--name")
    except ProtocolError as exc:
        parser.error(exc.message)
    return keygen(args.out, name)


def run(config_path: str) -> int:
    """Run the agent: 0 after SIGTERM/SIGINT, 2 for a configuration error."""
    from orbiter_agent.config import ConfigError, load_config  # keygen needs no STOMP client
    from orbiter_agent.daemon import Agent, log

    class JsonLines(logging.Handler):  # libraries' warnings as our JSON lines too
        def emit(self, record: logging.LogRecord) -> None:
            log(
                "library_log",
                logger=record.name,
                level=record.levelname,
                message=record.getMessage(),
            )

    logging.basicConfig(level=logging.WARNING, handlers=[JsonLines()])
    logging.getLogger("stomp.py").setLevel(logging.ERROR)  # "could not connect": connect_failed
    try:
        agent = Agent(load_config(config_path))
    except ConfigError as exc:
        log("config_invalid", path=config_path, error=str(exc))
        return 2
    except OSError as exc:  # e.g. the state directory cannot be created
        log("startup_failed", error=f"{exc.filename}: {exc.strerror}")
        return 1
    signal.signal(signal.SIGTERM, agent.on_signal)
    signal.signal(signal.SIGINT, agent.on_signal)
    return agent.run_forever()


def keygen(out: Path, name: str) -> int:
    """Write the pair, or nothing: existing files are reported and left as they were."""
    private_path = out / (name + PRIVATE_SUFFIX)
    public_path = out / (name + PUBLIC_SUFFIX)
    existing = [str(p) for p in (private_path, public_path) if p.exists() or p.is_symlink()]
    if existing:
        print(f"orbiter-agent: refusing to overwrite {', '.join(existing)}", file=sys.stderr)
        return 1
    private_pem, public_b64 = generate_keypair()
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_key(private_path, private_pem)
        try:
            write_public_key(public_path, public_b64)
        except BaseException:
            private_path.unlink()  # no half-made pair left behind
            raise
    except FileExistsError as exc:  # created by someone else since the check above
        print(f"orbiter-agent: refusing to overwrite {exc.filename}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"orbiter-agent: cannot write keys in {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {private_path} (mode 0600, keep it on this host)")
    print(f"wrote {public_path}: copy it to the other side's key directory")
    print(f"public key: {public_b64}")
    print(f"fingerprint: {fingerprint(parse_public_key(public_b64.encode()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
