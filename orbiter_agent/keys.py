"""Ed25519 key files and the key ring that says whose signature to believe.

- A private key is an unencrypted PKCS#8 PEM file, mode 0600; it is refused when group
  or others may read or write it (as ssh does), so a leaked key is noticed early.
- A file that holds trust (a public key, a password, the agent's configuration) and its
  directory may be written by their owner only, and owned by root or the agent's user:
  whoever can replace the control plane's key can sign requests the agent believes
  (`check_owner_writable_only`).
- A public key is `<sender>.pub`: the raw 32-byte key in base64 on one line (what
  `orbiter-agent keygen` writes), or a PEM "PUBLIC KEY". The file name is the sender
  name the key speaks for: a certname, or `control-plane`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from orbiter_agent.schema import Code, ProtocolError, check_sender

PUBLIC_SUFFIX = ".pub"
PRIVATE_SUFFIX = ".key"


class KeyFileError(ProtocolError):
    """A key file that cannot be used: unreadable, malformed, or too widely readable."""


def generate_keypair() -> tuple[bytes, str]:
    """Return a new key pair as (private key PEM, public key base64)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, public_key_b64(key.public_key())


def public_key_b64(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    """`SHA256:` + unpadded base64 of the raw key's SHA-256, as the control plane shows it:
    an admin approves a pending key by comparing this string read on the host."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


def write_private_key(path: str | os.PathLike[str], pem: bytes) -> None:
    """Write `pem` to a new file readable by its owner only; an existing file is kept.

    Raises FileExistsError rather than replace a key: an agent's identity is not
    overwritten by accident.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask was
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_public_key(path: str | os.PathLike[str], public_b64: str) -> None:
    """Write a public key file (base64 on one line); an existing file is kept."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, (public_b64 + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read a private key, refusing a file that group or others can access."""
    try:
        with open(path, "rb") as f:
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)  # the file we read, not a name
            if mode & 0o077:
                raise KeyFileError(
                    Code.INSECURE_KEY_FILE,
                    f"private key {path} has mode {mode:04o}: group and others must have no "
                    f"access (run: chmod 600 {path})",
                    field=str(path),
                )
            data = f.read()
    except OSError as exc:
        raise KeyFileError(
            Code.BAD_KEY, f"cannot read private key {path}: {exc.strerror}", field=str(path)
        ) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            Code.BAD_KEY, f"{path} is not an unencrypted PEM private key", field=str(path)
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(Code.BAD_KEY, f"{path} holds a key that is not Ed25519", field=str(path))
    return key


def check_owner_writable_only(path: str | os.PathLike[str], *, directory_too: bool = True) -> None:
    """Refuse `path` (and its directory) when group or others may write to it, or when it
    belongs to someone other than root or this process's user. A missing file passes:
    reading it then says so."""
    target = Path(path).absolute()
    for checked, kind in ((target, "file" if target.is_file() else "directory"),
                          *([(target.parent, "directory")] if directory_too else [])):  # fmt: skip
        try:
            info = os.stat(checked)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise KeyFileError(
                Code.BAD_KEY, f"cannot check {checked}: {exc.strerror}", field=str(checked)
            ) from exc
        mode, user = stat.S_IMODE(info.st_mode), os.geteuid()
        if mode & 0o022:
            raise KeyFileError(
                Code.INSECURE_KEY_FILE,
                f"{kind} {checked} has mode {mode:04o}: group and others must not be able to "
                f"write to it (run: chmod go-w {checked})",
                field=str(checked),
            )
        if info.st_uid not in (0, user):
            raise KeyFileError(
                Code.INSECURE_KEY_FILE,
                f"{kind} {checked} is owned by uid {info.st_uid}: only root or the agent's "
                f"user (uid {user}) may own it (run: chown {user} {checked})",
                field=str(checked),
            )


def others_may_read(path: str | os.PathLike[str]) -> int | None:
    """The mode of `path` when group or others have any access to it, else None."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    return mode if mode & 0o077 else None


def parse_public_key(data: bytes, *, source: str = "public key") -> Ed25519PublicKey:
    """Parse a raw 32-byte key in base64, or a PEM public key."""
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise KeyFileError(Code.BAD_KEY, f"{source} is not a valid PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(Code.BAD_KEY, f"{source} holds a key that is not Ed25519")
        return key
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(Code.BAD_KEY, f"{source} is neither base64 nor PEM") from exc
    if len(raw) != 32:
        raise KeyFileError(
            Code.BAD_KEY, f"{source} must be 32 bytes of Ed25519 key in base64, got {len(raw)}"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


class KeyRing:
    """Sender name -> public key: the only signatures a receiver believes.

    An agent's ring holds the control plane's key; the control plane's holds each
    agent's, under its certname.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for name, key in (keys or {}).items():
            self.add(name, key)

    def add(self, name: str, key: Ed25519PublicKey) -> None:
        check_sender(name, field="key name")
        self._keys[name] = key

    def get(self, name: str) -> Ed25519PublicKey | None:
        return self._keys.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def from_directory(cls, directory: str | os.PathLike[str]) -> KeyRing:
        """Load every `<name>.pub` in `directory`; other files are ignored.

        A file whose name is not a valid sender name is refused rather than skipped, so
        a misnamed key is noticed instead of silently not trusted.
        """
        ring = cls()
        for path in sorted(Path(directory).glob("*" + PUBLIC_SUFFIX)):
            name = path.name[: -len(PUBLIC_SUFFIX)]
            try:
                check_sender(name, field="key name")
            except ProtocolError as exc:
                raise KeyFileError(Code.BAD_KEY, f"{path}: {exc.message}", field=str(path)) from exc
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise KeyFileError(
                    Code.BAD_KEY, f"cannot read {path}: {exc.strerror}", field=str(path)
                ) from exc
            ring.add(name, parse_public_key(data, source=str(path)))
        return ring
