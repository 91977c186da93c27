"""The ids an agent has received, kept across restarts, so no request runs twice.

One SQLite file (`replay.sqlite3`, WAL) in the agent's state directory; each write is
one atomic statement.

Durability is paid only where the guarantee needs it. The first `remember(id, ...,
None)` commits with synchronous=FULL (the WAL is fsynced before it returns): once Puppet
starts, even a power loss cannot make the id forgotten. Adding the reply afterwards
commits with synchronous=NORMAL: WAL mode keeps the database consistent and a crashed
*process* loses nothing; only a power loss can lose that last write, and then the
redelivered request finds its id without a reply and is answered "interrupted" (a
transient error the control plane retries) — never run twice. Expired ids are pruned at
most once a minute, not after every write.

How the agent uses it, for a verified request:

1. `remember(id, expires_at, None)` before running it: if the agent dies mid-run, the
   redelivered request is refused as a replay instead of run a second time;
2. `remember(id, expires_at, reply_bytes)` once the reply is encoded;
3. on `ProtocolError(Code.REPLAY)`, send `stored_reply(id)` again if there is one.

An id is kept until an hour after its request expired. By then `decode_and_verify`
refuses the request as expired anyway (for clocks less than an hour apart), so
forgetting it cannot let it run again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

FILENAME = "replay.sqlite3"
KEEP_AFTER_EXPIRY_S = 3600.0
PRUNE_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    reply BLOB
);
CREATE INDEX IF NOT EXISTS received_expires_at ON received (expires_at);
"""


class ReplayStore:
    """Received request ids with their expiry and stored reply; for one process."""

    def __init__(
        self, state_dir: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        directory = Path(state_dir)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / FILENAME
        self._clock = clock
        # Stored replies may hold facts: owner only (SQLite gives -wal/-shm the same mode).
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()  # the agent may answer from a worker thread
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._synchronous = ""
        self._set_synchronous("FULL")
        self._db.executescript(_SCHEMA)
        self._pruned_at = float("-inf")

    def _set_synchronous(self, level: str) -> None:
        """FULL or NORMAL for the commits that follow (a no-op when already set)."""
        if level != self._synchronous:
            self._db.execute(f"PRAGMA synchronous={level}")  # one of two constants
            self._synchronous = level

    def seen(self, id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM received WHERE id = ?", (id,)).fetchone()
        return row is not None

    def stored_reply(self, id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM received WHERE id = ?", (id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def remember(self, id: str, expires_at: float, reply: bytes | None = None) -> None:
        """Record `id`; a later call may add its reply, never remove one already stored.

        Without a reply (the record that stops a second run) the commit is fsynced before
        this returns; with one, it is not (see the module docstring)."""
        with self._lock:
            self._set_synchronous("FULL" if reply is None else "NORMAL")
            self._db.execute(
                "INSERT INTO received (id, expires_at, reply) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET "
                "expires_at = max(expires_at, excluded.expires_at), "
                "reply = coalesce(excluded.reply, reply)",
                (id, float(expires_at), reply),
            )
        now = self._clock()
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self.prune(now)

    def prune(self, now: float | None = None) -> int:
        """Forget ids whose request expired more than an hour ago; return how many."""
        now = self._clock() if now is None else now
        cutoff = now - KEEP_AFTER_EXPIRY_S
        with self._lock:
            return self._db.execute("DELETE FROM received WHERE expires_at < ?", (cutoff,)).rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM received").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
