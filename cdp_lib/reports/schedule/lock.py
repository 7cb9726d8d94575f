"""One lock per job (`fcntl.flock`), so two schedulers never run one slot at the same time."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def job_lock(state_dir: str | os.PathLike, job: str) -> Iterator[bool]:
    """Try to take the job's lock without waiting; yields whether this process holds it."""
    locks = Path(state_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{job}.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
