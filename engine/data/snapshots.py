"""One warehouse, many processes: readers open published snapshots, one writer at a time.

DuckDB lets one process open a file read-write, or many processes open it read-only, never
both. The app (many sessions), a scheduler's CLI commands and the API server all need the
warehouse at once, so no process ever writes the file readers have open:

- `<data>/warehouse.duckdb` is a symbolic link to the current snapshot,
  `<data>/warehouse.snapshots/gNNNNNN.duckdb`. Readers resolve the link and open that
  file read-only; a snapshot never changes once published.
- A writer takes `<data>/warehouse.lock` (an exclusive `flock`, released by the kernel
  when the process dies, so `kill -9` never leaves a stale lock), copies the current
  snapshot to the next generation, works on the copy, checkpoints it and publishes it by
  replacing the link (`rename(2)` is atomic). Readers that opened the old snapshot finish
  on it; the next read sees the new one. Nothing a writer did is visible before it
  publishes, and a writer that dies leaves the link on the previous snapshot.
- A second writer waits for the lock (bounded by RADAR_WRITE_WAIT_SECONDS), then is
  refused with the holder named.

Snapshot files keep distinct names because DuckDB caches open databases by path: a new
file renamed over an open one would be served from the old instance.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.core.errors import WarehouseLockedError

SNAPSHOT_DIR = "warehouse.snapshots"
LOCK_FILE = "warehouse.lock"
WAIT_ENV = "RADAR_WRITE_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 600.0
KEEP_SNAPSHOTS = 3  # the current one and two before it, for readers still finishing on them
_NAME = re.compile(r"^g(\d{6,})\.duckdb$")


@dataclass(frozen=True)
class Snapshot:
    path: Path
    generation: int  # 0 for a warehouse written before snapshots (one plain file)


def _snapshot_dir(link: Path) -> Path:
    return link.parent / SNAPSHOT_DIR


def generation_of(path: Path) -> int | None:
    found = _NAME.match(path.name)
    return int(found.group(1)) if found else None


def current(link: Path) -> Snapshot | None:
    """The published snapshot `link` points at (None when there is no warehouse yet)."""
    if link.is_symlink():
        target = link.parent / os.readlink(link)
        return Snapshot(target, generation_of(target) or 0)
    if link.exists():
        return Snapshot(link, 0)
    return None


def generation_path(link: Path, generation: int) -> Path:
    return _snapshot_dir(link) / f"g{generation:06d}.duckdb"


# -- the writer lock ---------------------------------------------------------------------------
def _wait_seconds() -> float:
    raw = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_WAIT_SECONDS
    except ValueError:
        return DEFAULT_WAIT_SECONDS


def _holder_text(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"`{info.get('purpose', 'a command')}` (process {info.get('pid', '?')}, since {info.get('since', '?')})"


def _purpose() -> str:
    args = [a for a in sys.argv[1:] if not a.startswith("-")][:2]
    return " ".join(args) if args else Path(sys.argv[0]).name or "python"


@dataclass
class WriterLock:
    """The one-writer-at-a-time lock of a data dir, held by an open file descriptor."""

    path: Path
    fd: int

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def acquire(
    link: Path, purpose: str | None = None, wait: float | None = None, notify: Callable[[str], None] | None = None
) -> WriterLock:
    """Take the writer lock, waiting up to `wait` seconds (RADAR_WRITE_WAIT_SECONDS, default 600)."""
    lock_path = link.parent / LOCK_FILE
    link.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    limit = _wait_seconds() if wait is None else wait
    deadline = time.monotonic() + limit
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = _holder_text(lock_path)
            if time.monotonic() >= deadline:
                os.close(fd)
                raise WarehouseLockedError(
                    f"The warehouse {link} is being written by {holder}; waited {limit:.0f} s. "
                    f"Try again when it has finished (readers are not affected), or raise {WAIT_ENV}."
                ) from None
            if not told and notify is not None:
                notify(f"waiting for the warehouse: {holder} is writing it (up to {limit:.0f} s)")
                told = True
            time.sleep(0.2)
    info = {"purpose": purpose or _purpose(), "pid": os.getpid(), "since": datetime.now().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return WriterLock(lock_path, fd)


# -- generations -----------------------------------------------------------------------------
def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def start_generation(link: Path) -> tuple[Path, Snapshot | None]:
    """(file to write, snapshot it starts from), under the writer lock.

    Generations above the current one are leftovers of a writer that died before publishing:
    they are removed. The caller fills the new file with `copy_generation` (a byte copy of the
    current snapshot, checkpointed, so the copy is complete).
    """
    base = current(link)
    folder = _snapshot_dir(link)
    folder.mkdir(parents=True, exist_ok=True)
    now = base.generation if base else 0
    for path in folder.iterdir():
        generation = generation_of(path.with_suffix("")) if path.name.endswith(".wal") else generation_of(path)
        if generation is not None and generation > now:
            _remove(path)
    return generation_path(link, now + 1), base


FLUSH_BYTES = 64 * 1024 * 1024
_flush = getattr(os, "fdatasync", os.fsync)  # the data, not the file's times: what a reader needs


def copy_generation(base: Snapshot, target: Path) -> None:
    """Copy the snapshot `base` to `target`, flushing every 64 MB as it goes: a 1 GB copy left
    for publishing's fsync reached the disk in one burst, which stalled the API's requests on
    the same host for 100-200 ms."""
    with open(base.path, "rb") as source, open(target, "wb") as copy:
        size, done = os.fstat(source.fileno()).st_size, 0
        while done < size:
            sent = _send(source, copy, done, min(FLUSH_BYTES, size - done))
            if sent == 0:
                break
            done += sent
            _flush(copy.fileno())


def _send(source, copy, offset: int, count: int) -> int:
    """Copy `count` bytes from `offset`: in the kernel where it can (Linux), else through a buffer."""
    try:
        return os.sendfile(copy.fileno(), source.fileno(), offset, count)
    except (AttributeError, OSError):
        source.seek(offset)
        data = source.read(count)
        copy.seek(offset)
        copy.write(data)
        copy.flush()
        return len(data)


def publish(link: Path, target: Path) -> None:
    """Make `target` the current snapshot: durable on disk first, then one atomic rename."""
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
    staged = link.with_name(f".{link.name}.{os.getpid()}.new")
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    os.symlink(os.path.relpath(target, link.parent), staged)
    os.replace(staged, link)
    dir_fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    _prune(link, generation_of(target) or 0)


def discard(target: Path) -> None:
    """Drop a generation that was never published."""
    _remove(target)


def _prune(link: Path, newest: int) -> None:
    """Delete snapshots older than the last few. A process still reading one keeps its open
    file (POSIX unlink); only new readers need the link, which points at the newest."""
    for path in _snapshot_dir(link).iterdir():
        generation = generation_of(path)
        if generation is not None and generation <= newest - KEEP_SNAPSHOTS:
            _remove(path)


@contextlib.contextmanager
def held(link: Path, purpose: str | None = None, wait: float | None = None) -> Iterator[WriterLock]:
    lock = acquire(link, purpose, wait)
    try:
        yield lock
    finally:
        lock.release()
