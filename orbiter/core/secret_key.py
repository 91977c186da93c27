"""The secret key of a standalone (or test) instance: generated into its data directory on
first start (mode 0600) and reused after, so sessions survive a restart and no two
installations share a key. Server mode takes ORBITER_SECRET_KEY(_FILE) instead."""

import os
import secrets
import stat
from pathlib import Path

FILE_NAME = "secret_key"


class SecretKeyError(Exception):
    pass


def secret_key_ensure(data_dir: Path) -> str:
    """The key in `data_dir`/secret_key, created now if missing. Two processes starting at
    once agree on one key: each writes a private temporary file and links it into place,
    which only the first succeeds at; a file others may read is refused, not used."""
    path = data_dir / FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(f"{path} is open to other users (mode {stat.S_IMODE(mode):o}); "
                             f"make it private: chmod 600 {path}")
    key = path.read_text().strip()
    if len(key) < 50:
        raise SecretKeyError(f"{path} holds no usable key (under 50 characters); delete it to get a new one")
    return key


def _create(path: Path) -> None:
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(64) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: use its key
    finally:
        temporary.unlink(missing_ok=True)
