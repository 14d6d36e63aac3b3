"""Where SQLite and PostgreSQL differ, decided in one place: opening a PostgreSQL database, and
what only one of them needs said (row locks that skip what another holds, locks that make
PostgreSQL's concurrent transactions run one at a time where SQLite's always do).

Everything else is written once for both: upserts as INSERT … ON CONFLICT, RETURNING where the
database has it (`db.returning_clause`), naive UTC times (`base.utcnow`), date arithmetic and
grouping in Python rather than in SQL (models/reports.py). Full-text search differs in its
index, not its meaning: models/search.py (SQLite's FTS5 table) and models/search_postgres.py
(trigram indexes).
"""

from __future__ import annotations

import contextlib

import peewee
from playhouse.db_url import parse

from .base import CheapSavepoints, db


class Postgresql(CheapSavepoints, peewee.PostgresqlDatabase):
    """PostgreSQL as Postdesk uses it. Its text cannot hold a NUL character (SQLite's can), and a
    mail may carry one anywhere (a Message-ID, a header decoded from =00): NUL in text values
    is written as U+FFFD, the character a decoder puts for what it cannot read, in every
    statement, so a mail with one is stored, looked up and threaded like any other."""

    def execute_sql(self, sql, params=None):
        if params and any(isinstance(value, str) and "\x00" in value for value in params):
            params = [value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in params]
        return super().execute_sql(sql, params)


def open_postgresql(url: str, lock_timeout_ms: int) -> Postgresql:
    """The database of a postgresql:// URL (libpq's parameters may follow as a query string,
    e.g. ?host=/run/postgresql&sslmode=require). A statement waits at most `lock_timeout_ms` for a
    lock another transaction holds, then fails, as a SQLite writer gives up after its busy
    timeout: the SMTP edge answers 451 rather than keep a client waiting."""
    kwargs = parse(url.replace("postgres://", "postgresql://", 1))
    name = kwargs.pop("database")
    kwargs["options"] = f"{kwargs.get('options', '')} -c lock_timeout={int(lock_timeout_ms)}".strip()
    return Postgresql(name, **kwargs)


# PostgreSQL's codes for a statement that lost to a concurrent transaction and may simply run
# again: chosen as a deadlock's victim, out of lock_timeout, a serialization failure.
LOCK_CONFLICTS = ("40P01", "55P03", "40001")


def is_lock_conflict(exc: BaseException) -> bool:
    """Did this write fail only because another transaction held what it needed? Two workers'
    batches can deadlock on PostgreSQL (the same mail arriving twice, by two edges, in two
    batches that meet the same rows in opposite order); the database aborts one of them."""
    # peewee raises its own error while handling the driver's, which carries the code
    return any(getattr(error, "pgcode", None) in LOCK_CONFLICTS for error in (exc, exc.__cause__, exc.__context__))


def is_postgresql(database=None) -> bool:
    return isinstance(database if database is not None else db.obj, peewee.PostgresqlDatabase)


def skip_locked(database=None) -> str:
    """" FOR UPDATE SKIP LOCKED" for a subquery choosing rows to claim, on PostgreSQL: a claimer
    passes over rows another transaction holds instead of waiting for it, and never takes one
    twice (the guarded UPDATE around it still checks the row's state). SQLite needs nothing: it
    has one writer at a time, so a claim there never meets a held row."""
    return " FOR UPDATE SKIP LOCKED" if is_postgresql(database) else ""


def lock_names(names) -> None:
    """Inside a transaction that reads, then writes on what it read (count, then add): make
    other transactions naming any of the same `names` wait until this one ends. SQLite needs
    nothing (BEGIN IMMEDIATE runs writers one at a time); PostgreSQL runs them side by side, so
    each name is a transaction-scoped advisory lock, taken in order so two never deadlock."""
    if is_postgresql():
        for name in sorted(set(names)):
            db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))


@contextlib.contextmanager
def altering_tables(database):
    """Around migrations. SQLite adds a NOT NULL column or drops one by rebuilding the table
    (playhouse.migrate: create a copy, copy the rows, drop the old table, rename), and with
    foreign keys enforced dropping the old table deletes the rows that point at it (ON DELETE
    CASCADE: an agent's addresses and sessions went when migration 10 rebuilt `agent`). So, as
    SQLite's documentation prescribes for such changes, foreign keys are off while they run and
    checked after. PostgreSQL alters tables in place: nothing to do."""
    if not isinstance(database, peewee.SqliteDatabase):
        yield
        return
    enforced = database.execute_sql("PRAGMA foreign_keys").fetchone()[0]
    database.execute_sql("PRAGMA foreign_keys = OFF")  # outside a transaction, or it does nothing
    try:
        yield
        broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migrations left rows pointing at nothing: {broken[:10]}")
    finally:
        database.execute_sql(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")
