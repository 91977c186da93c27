"""Where client mode finds the server and the API token.

`orbiter login` stores both in $XDG_CONFIG_HOME/orbiter/credentials.toml (default
~/.config/orbiter/), readable by its owner only (0600, in a 0700 directory). ORBITER_URL and
ORBITER_TOKEN override the file, for CI. A token from the file is only ever sent to the URL it
was stored with: with ORBITER_URL naming another server, ORBITER_TOKEN must be set too.
"""

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from orbiter.client.errors import UNREACHABLE, USAGE, ClientError

FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str
    source: str  # where they came from, for messages: "ORBITER_URL/ORBITER_TOKEN" or the file's path


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "orbiter" / "credentials.toml"


def normalize_url(text: str) -> str:
    """'https://orbiter.example.com/' -> 'https://orbiter.example.com'; refuses anything but an
    http(s) URL with a host and no query, naming what is allowed."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ClientError(f"URL: {text!r} is not allowed; give the server's http(s) address, "
                          "e.g. https://orbiter.example.com", USAGE)
    return url


def plain_http(url: str) -> bool:
    """Whether a token sent to `url` crosses the network readable by anyone on the way: http://
    to anything but this machine (localhost, 127.0.0.0/8, ::1), as the URL names it."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def stored() -> dict[str, str]:
    """What the file holds ({} when there is none)."""
    file = path()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ClientError(f"cannot read {file}: {error}; run `orbiter login` again", UNREACHABLE) from None
    return {key: str(data[key]) for key in ("url", "token") if isinstance(data.get(key), str)}


def configured() -> bool:
    """Whether client mode applies: a server is named by ORBITER_URL or by a stored login."""
    return bool(os.environ.get("ORBITER_URL", "").strip()) or path().is_file()


def resolve() -> Credentials:
    """The URL and token to use now, or an error (exit 5) saying how to provide them."""
    env_url = os.environ.get("ORBITER_URL", "").strip()
    env_token = os.environ.get("ORBITER_TOKEN", "").strip()
    saved = stored()
    saved_url = normalize_url(saved["url"]) if saved.get("url") else ""
    url = normalize_url(env_url) if env_url else saved_url
    if not url:
        raise ClientError("not logged in: run `orbiter login URL`, or set ORBITER_URL and ORBITER_TOKEN",
                          UNREACHABLE)
    if env_token:
        return Credentials(url, env_token, "ORBITER_TOKEN")
    if saved.get("token") and url == saved_url:
        return Credentials(url, saved["token"], str(path()))
    raise ClientError(f"no API token for {url}: set ORBITER_TOKEN or run `orbiter login {url}`", UNREACHABLE)


def save(url: str, token: str) -> Path:
    """Write the file owner-only, atomically (a half-written file never replaces a good one)."""
    file = path()
    file.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    scratch = file.with_name(f".{file.name}.{os.getpid()}")
    # json.dumps of a str is a valid TOML basic string (same escapes): no TOML writer needed.
    text = f"# written by `orbiter login`; `orbiter logout` removes it\nurl = {json.dumps(url)}\n" \
           f"token = {json.dumps(token)}\n"
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, FILE_MODE)  # whatever the umask or an earlier file said
        os.replace(scratch, file)
    finally:
        scratch.unlink(missing_ok=True)
    return file


def forget() -> Path | None:
    """Remove the stored login; the file's path, or None when there was none."""
    file = path()
    try:
        file.unlink()
    except FileNotFoundError:
        return None
    return file
