"""Full-text search over tickets (their subjects and messages) that finds Chinese words as well
as English ones.

SQLite: an FTS5 table, `ticket_search`, filled by triggers when a ticket or a message is
inserted, so no code path can forget it. FTS5's unicode61 tokenizer splits text at spaces and
punctuation, and Chinese has neither between words; so the text is indexed with a space around
every CJK character (`spaced`, a SQL function registered on every connection), and a Chinese
query becomes a phrase of its characters: 发票 matches 发 followed by 票, wherever it stands. Latin
words match by prefix ("invoic" finds "invoices"). PostgreSQL: a case-insensitive substring
match backed by trigram indexes (models/search_postgres.py).

A search finds the MATCHES tickets with the newest matching messages and subjects, read from the
index newest first and stopped there: a word in a quarter of a million mails costs no more than a
rare one, and the queue page sorts and pages those tickets as it sorts any other. More than that
and the page says so (add a word), as Zendesk's and Freshdesk's searches cap their results.
"""

from __future__ import annotations

import contextlib
import re
import threading

import peewee

CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")
WORD = re.compile(r"\w+", re.UNICODE)
INDEXED = 20_000  # characters of each message indexed: enough to find it, bounded per mail
# One row per ticket subject (rowid: minus the ticket's id) and per message (rowid: its id), so a
# message moved to another ticket (split, merge) moves in the index too (`move_messages`).
TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS ticket_search_ticket AFTER INSERT ON ticket BEGIN "
    "INSERT INTO ticket_search (rowid, ticket_id, body) VALUES (-new.id, new.id, spaced(new.subject)); END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_message AFTER INSERT ON message BEGIN "
    "INSERT INTO ticket_search (rowid, ticket_id, body) "
    f"VALUES (new.id, new.ticket_id, spaced(substr(new.text, 1, {INDEXED}))); END",
)
# Since migration 17: the same, except while a batch of mail is applied (`batched`), when a new
# row is only noted in search_pending and indexed as the batch ends.
BATCH_TRIGGERS = (
    "CREATE TRIGGER ticket_search_ticket AFTER INSERT ON ticket WHEN NOT search_deferred() BEGIN "
    "INSERT INTO ticket_search (rowid, ticket_id, body) VALUES (-new.id, new.id, spaced(new.subject)); END",
    "CREATE TRIGGER ticket_search_message AFTER INSERT ON message WHEN NOT search_deferred() BEGIN "
    "INSERT INTO ticket_search (rowid, ticket_id, body) "
    f"VALUES (new.id, new.ticket_id, spaced(substr(new.text, 1, {INDEXED}))); END",
    "CREATE TRIGGER ticket_search_ticket_later AFTER INSERT ON ticket WHEN search_deferred() BEGIN "
    "INSERT INTO search_pending (id) VALUES (-new.id); END",
    "CREATE TRIGGER ticket_search_message_later AFTER INSERT ON message WHEN search_deferred() BEGIN "
    "INSERT INTO search_pending (id) VALUES (new.id); END",
)
_batch = threading.local()  # a connection is its thread's (peewee), and so is the batch


def spaced(text: str | None) -> str:
    """The text as it is indexed: a space around each CJK character."""
    if not text or text.isascii():  # most mail: nothing to space, and the check costs nothing
        return text or ""
    return CJK.sub(r" \1 ", text)


def match(query: str, prefixes: bool = True) -> str:
    """An FTS5 query for what a person typed: every word must occur (Latin words as themselves
    or, with `prefixes`, as prefixes; CJK runs as phrases of their characters); "" when nothing
    searchable was typed."""
    terms = []
    for word in WORD.findall(query)[:20]:
        pieces = [piece for piece in CJK.split(word) if piece]  # each CJK character apart
        if len(pieces) > 1 or CJK.fullmatch(pieces[0]):
            terms.append('"' + " ".join(pieces) + '"')
        else:
            terms.append(f'"{word}"*' if prefixes else f'"{word}"')
    return " AND ".join(terms)


MATCHES = 500


def tickets(database, text: str) -> list[int]:
    """The ids of up to MATCHES tickets whose subject or a message holds every word typed, those
    with the newest matches first."""
    if database.table_exists("ticket_search"):
        if not match(text):
            return []
        # The words as typed first; as prefixes too ("invoic" finds "invoices") only when that
        # finds too few, since a prefix is the costly query (each word it begins, merged).
        found = _newest(database, match(text, prefixes=False))
        return found if len(found) >= MATCHES else _newest(database, match(text))
    from . import search_postgres  # it reads this module's words and limits

    return search_postgres.newest(text, MATCHES)


def _newest(database, expression: str) -> list[int]:
    """Messages by their rowid (the message id), newest first; subjects (rowid: minus the ticket
    id) newest ticket first. FTS5 walks its rowids in order and stops at the LIMIT."""
    rows = database.execute_sql(
        "SELECT ticket_id FROM (SELECT ticket_id FROM ticket_search WHERE ticket_search MATCH ? AND rowid > 0 "
        "ORDER BY rowid DESC LIMIT ?) UNION ALL SELECT ticket_id FROM (SELECT ticket_id FROM ticket_search "
        "WHERE ticket_search MATCH ? AND rowid < 0 ORDER BY rowid LIMIT ?)", (expression, MATCHES, expression, MATCHES))
    return list(dict.fromkeys(ticket_id for ticket_id, in rows))[:MATCHES]


def install(database) -> None:
    """Register the functions the search triggers call on a SQLite database's connections
    (open_database and migrations)."""
    database.register_function(spaced, "spaced", 1)
    database.register_function(_deferred, "search_deferred", 0)


def _deferred() -> int:
    return 1 if getattr(_batch, "deferring", False) else 0


@contextlib.contextmanager
def batched(database):
    """Index the tickets and messages the block inserts when it ends, all at once, instead of as
    each is inserted. FTS5 writes out the rows it holds at every savepoint, and a batch of mail
    opens one per mail: that made storing a message about twice as costly. Use it inside the
    batch's transaction, around its savepoints; what a rolled-back savepoint inserted is gone,
    note and all, and a block that raises leaves the rest to its transaction's rollback."""
    if not isinstance(database, peewee.SqliteDatabase) or getattr(_batch, "deferring", False):
        yield
        return
    _batch.deferring = True
    try:
        yield
    finally:
        _batch.deferring = False
    database.execute_sql(
        "INSERT INTO ticket_search (rowid, ticket_id, body) "
        f"SELECT message.id, message.ticket_id, spaced(substr(message.text, 1, {INDEXED})) "
        "FROM search_pending JOIN message ON message.id = search_pending.id "
        "UNION ALL SELECT -ticket.id, ticket.id, spaced(ticket.subject) "
        "FROM search_pending JOIN ticket ON ticket.id = -search_pending.id")
    database.execute_sql("DELETE FROM search_pending")


def index_in_batches(database) -> None:
    """The search triggers that `batched` defers, and the table of what waits (migration 17)."""
    database.execute_sql("CREATE TABLE IF NOT EXISTS search_pending (id INTEGER PRIMARY KEY)")
    for name in ("ticket_search_ticket", "ticket_search_message"):
        database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    for statement in BATCH_TRIGGERS:
        database.execute_sql(statement)


def create(database) -> None:
    """The search table and its triggers, filled with what is stored already (migration 10)."""
    install(database)
    database.execute_sql("CREATE VIRTUAL TABLE IF NOT EXISTS ticket_search USING fts5(ticket_id UNINDEXED, body, "
                         "tokenize = 'unicode61 remove_diacritics 2')")
    for statement in TRIGGERS:
        database.execute_sql(statement)
    database.execute_sql("DELETE FROM ticket_search")
    database.execute_sql("INSERT INTO ticket_search (rowid, ticket_id, body) "
                         "SELECT -id, id, spaced(subject) FROM ticket")
    database.execute_sql(f"INSERT INTO ticket_search (rowid, ticket_id, body) SELECT id, ticket_id, "
                         f"spaced(substr(text, 1, {INDEXED})) FROM message")


def move_messages(database, message_ids: list[int], ticket_id: int) -> None:
    """Messages moved to another ticket are found under it (SQLite; PostgreSQL searches the
    tables themselves)."""
    if message_ids and database.table_exists("ticket_search"):
        marks = ", ".join("?" * len(message_ids))
        database.execute_sql(f"UPDATE ticket_search SET ticket_id = ? WHERE rowid IN ({marks})",
                             (ticket_id, *message_ids))
