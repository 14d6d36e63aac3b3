"""The database handle every table binds to, initialised by whoever starts the process."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import time
from pathlib import Path

import peewee

from . import search

_SAVEPOINTS = itertools.count(1)


class Proxy(peewee.DatabaseProxy):
    """peewee's proxy, with a transaction or savepoint begun on the database itself: through the
    proxy, each of the checks it makes on the way is a lookup on the proxy, which made a
    savepoint (one per mail of a batch, one per action) cost about four times as much."""

    def atomic(self, *args, **kwargs):
        return self.obj.atomic(*args, **kwargs)

    def transaction(self, *args, **kwargs):
        return self.obj.transaction(*args, **kwargs)


class CheapSavepoints:
    """Savepoints named by a counter: peewee names each by a fresh UUID, a third of its cost.
    A name has only to differ from the others open on its connection."""

    def savepoint(self, sid=None):
        return peewee._savepoint(self, sid or f"s{next(_SAVEPOINTS)}")


class Sqlite(CheapSavepoints, peewee.SqliteDatabase):
    pass


db = Proxy()


_EPOCH = dt.datetime(1970, 1, 1)


def utcnow() -> dt.datetime:
    """Naive UTC, the one time representation stored in the database. (Counted from the epoch:
    `datetime.now(UTC)` without its zone takes five times as long, and a mail asks a dozen times.)"""
    return _EPOCH + dt.timedelta(seconds=time.time())


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


def open_database(settings) -> peewee.Database:
    """Create the configured database and bind the proxy to it (SQLite: WAL + busy timeout)."""
    url = settings.database.url
    if url.startswith("sqlite:///"):
        path = settings.path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        database = Sqlite(
            str(path),
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait out the busy
            # timeout instead of failing when a read transaction upgrades to a write.
            lock_type="IMMEDIATE",
            # UPDATE … RETURNING (SQLite 3.35+) saves a round trip where a counter is bumped.
            returning_clause=sqlite3.sqlite_version_info >= (3, 35),
            timeout=settings.database.busy_timeout_ms / 1000,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": settings.database.busy_timeout_ms,
                # Several processes write, and each write makes the others drop their page cache;
                # memory-mapped reads make re-reading those pages cheaper.
                "mmap_size": 256 * 1024 * 1024,
                "cache_size": -16000,  # KiB
                # A savepoint (one per mail of a batch) keeps the pages it changes in a
                # sub-journal; in a temporary file that was about a hundred small writes per mail
                # (a tenth of `postdesk import`'s time, in system calls).
                "temp_store": "memory",
            },
        )
        search.install(database)  # the function the search triggers call
    else:
        from .dialect import open_postgresql

        database = open_postgresql(url, settings.database.busy_timeout_ms)
    db.initialize(database)
    from . import attachments  # here: it reads the tables, which read this module

    attachments.configure(settings)
    return database


def database_path(settings) -> Path | None:
    url = settings.database.url
    return settings.path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None
