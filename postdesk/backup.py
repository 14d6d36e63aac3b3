"""`postdesk backup PATH`: a consistent copy of the database, taken while Postdesk runs.

Everything a ticket holds (mail, attachments, events, the outbox) is in the database, except the
attachments an `[attachments] store = "folder"` keeps outside it: those files are copied after the
database, into PATH.attachments/ (a file is written before the row naming it commits, so every row
in the copy finds its file). The rest to keep is the configuration and the installation's secret
(`var/secret_key` or POSTDESK_SECRET_KEY), without which the reply and survey tokens in mail
already sent stop working.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from models.attachments import FolderStore
from models.base import database_path

EX_UNAVAILABLE, EX_CANTCREAT = 69, 73  # sysexits.h


class BackupError(Exception):
    """The backup was not made; the message says why. Nothing is left at the target."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def backup(settings, target: Path) -> str:
    """Write the backup to `target` (which must not exist); returns what was written."""
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name", EX_CANTCREAT)
    source = database_path(settings)
    if source is not None:
        size = sqlite_backup(source, target, settings.database.busy_timeout_ms / 1000)
        done = f"{source} → {target} ({size} bytes, integrity ok)"
    else:
        pg_dump(settings.database.url, target)
        done = f"{_without_password(settings.database.url)} → {target} (pg_dump custom format; restore with pg_restore)"
    copied = copy_attachment_store(FolderStore(settings.path(settings.attachments.folder)),
                                   target.with_name(f"{target.name}.attachments"))
    if copied:
        done += f"; {copied} attachment files → {target.name}.attachments/"
    return done


def copy_attachment_store(store: FolderStore, target: Path) -> int:
    """Copy the store's files (named by content hash: a file never changes once written) into the
    same layout under `target`, each synced; returns how many."""
    copied = 0
    for digest, _ in store.names():
        copy = target / store.path(digest).relative_to(store.root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(store.path(digest), copy)
        except FileNotFoundError:  # set aside by the orphan sweep meanwhile: no row names it
            continue
        _sync(copy)
        copied += 1
    return copied


def sqlite_backup(source: Path, target: Path, timeout: float = 5.0) -> int:
    """SQLite's online backup API in one step: one read transaction, so (in WAL mode) the edges
    and workers go on writing meanwhile and the copy is the database as of one moment. It is
    written beside the target, turned into a single self-contained file (no -wal), checked with
    PRAGMA integrity_check and synced before it takes the target's name: a file at the target is
    a whole, checked backup."""
    if not source.is_file():
        raise BackupError(f"{source}: no database there")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with contextlib.closing(sqlite3.connect(source, timeout=timeout)) as src, \
                contextlib.closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)  # pages=-1: everything in one step, under one read lock
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {'; '.join(verdict[:5])}")
        _sync(partial)
        os.replace(partial, target)
        _sync(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def pg_dump(url: str, target: Path) -> None:
    """Run pg_dump (custom format, no owners) into `target`; the password goes in the
    environment, not on the command line where `ps` would show it."""
    program = shutil.which("pg_dump")
    if program is None:
        raise BackupError(f"pg_dump is not on PATH. Install the PostgreSQL client tools of your server's "
                          f"version, or run: pg_dump --format=custom --no-owner --file={target} "
                          f"'{_without_password(url)}'", EX_UNAVAILABLE)
    partial = target.with_name(f".{target.name}.partial")
    env = dict(os.environ)
    password = urlsplit(url).password
    if password:
        env["PGPASSWORD"] = unquote(password)
    done = subprocess.run([program, "--format=custom", "--no-owner", f"--file={partial}",
                           f"--dbname={_without_password(url)}"], env=env, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed ({done.returncode}): {done.stderr.strip()}")
    _sync(partial)
    os.replace(partial, target)


def _without_password(url: str) -> str:
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    if parts.password is None:
        return urlunsplit(parts)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _sync(path: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
