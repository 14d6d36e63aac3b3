"""Where the bytes of attachments live: beside their row in the database (the default), or in a
store outside it, by content hash, for large ones (`[attachments]` in config.toml).

A store needs four operations, `put`, `get`, `names` and `remove`, all by SHA-256 hex digest;
FolderStore keeps one file per distinct content, so the same logo in a thousand mails is one file.

Nothing is lost and nothing is orphaned for good:
- The bytes are written (and synced) before the row that names them commits, so a committed row
  always finds its file.
- A file whose row never committed (its mail failed and rolled back, the process died) is named
  by no row; `collect_orphans` removes it once it is older than the grace period. A `put` of
  content already there touches the file, so a file about to be named again is never old.
- Rows are never deleted (merge and split move messages), so a file named once stays named.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .tables import Attachment

log = logging.getLogger(__name__)

DIGEST = re.compile(r"[0-9a-f]{64}")


class MissingContent(Exception):
    """A stored attachment's file is gone or damaged (the message says which)."""


class FolderStore:
    """Files named by their SHA-256 under `root/ab/`, written whole or not at all."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, digest: str, data: bytes) -> None:
        path = self.path(digest)
        try:
            os.utime(path)  # there already: fresh again, so the orphan sweep leaves it alone
            return
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{digest}.{os.getpid()}.{time.monotonic_ns()}")
        try:
            with open(temporary, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)  # same content whoever wins a race
        finally:
            temporary.unlink(missing_ok=True)
        _sync_folder(path.parent)

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise MissingContent(f"{digest}: no such file in {self.root}") from None

    def names(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with the time it was last written or touched."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 2:
                for entry in os.scandir(folder):
                    if DIGEST.fullmatch(entry.name):
                        yield entry.name, entry.stat().st_mtime

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """The new file's name is durable too (a crash after the commit must not lose it)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Placement:
    store: FolderStore
    outside_from: int | None  # bytes from which new attachments go to the store; None: none do


_placement = Placement(FolderStore(Path("var/attachments")), None)


def configure(settings) -> None:
    """Use the configured store (models.base.open_database calls this)."""
    global _placement
    config = settings.attachments
    _placement = Placement(FolderStore(settings.path(config.folder)),
                           config.min_bytes if config.store == "folder" else None)


def stored(data: bytes) -> dict:
    """An attachment row's columns for `data`: its bytes put in the store when large enough (now,
    before the row commits), else kept in the row."""
    digest = hashlib.sha256(data).hexdigest()
    outside = _placement.outside_from is not None and len(data) >= _placement.outside_from
    if outside:
        _placement.store.put(digest, data)
    return {"size": len(data), "sha256": digest, "in_store": outside, "data": b"" if outside else data}


def content(attachment: Attachment) -> bytes:
    """The attachment's bytes, wherever they are; MissingContent when its stored file is gone or
    no longer has the content it was stored with."""
    if not attachment.in_store:
        return bytes(attachment.data)
    data = _placement.store.get(attachment.sha256)
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise MissingContent(f"{attachment.sha256}: the stored file's content has changed")
    return data


def collect_orphans(grace_hours: float, store: FolderStore | None = None) -> int:
    """Remove stored files no attachment names and nobody wrote or touched for `grace_hours`;
    returns how many. Each candidate is renamed aside first, then checked again (touched since?
    named since?), so a `put` racing the sweep either touches the file before it moves, and the
    check sees it, or finds it gone and writes it anew."""
    store = store or _placement.store
    cutoff = time.time() - grace_hours * 3600
    removed = 0
    for batch in _batches((digest for digest, written in store.names() if written < cutoff), 500):
        named = _named(batch)
        for digest in batch:
            if digest not in named:
                removed += _remove_if_still_orphaned(store, digest, cutoff)
    if removed:
        log.info("attachment store: removed %d files no attachment names", removed)
    return removed


def _remove_if_still_orphaned(store: FolderStore, digest: str, cutoff: float) -> int:
    path = store.path(digest)
    aside = path.with_name(f".{digest}.orphan")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return 0
    if aside.stat().st_mtime >= cutoff or _named([digest]):
        os.replace(aside, path)  # same bytes as any copy written meanwhile
        return 0
    aside.unlink()
    return 1


def _named(digests: list[str]) -> set[str]:
    return {row.sha256 for row in Attachment.select(Attachment.sha256)
            .where(Attachment.in_store & Attachment.sha256.in_(digests))}


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
