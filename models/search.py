"""Full-text search over tickets (their subjects and messages) that finds Chinese words as well
as English ones.

SQLite: an FTS5 table, `ticket_search`, filled by triggers when a ticket or a message is
inserted, so no code path can forget it. FTS5's unicode61 tokenizer splits text at spaces and
punctuation, and Chinese has neither between words; so the text is indexed with a space around
every CJK character (`spaced`, a SQL function registered on every connection), and a Chinese
query becomes a phrase of its characters: 发票 matches 发 followed by 票, wherever it stands. Latin
words match by prefix ("invoic" finds "invoices"). PostgreSQL: a case-insensitive substring
match backed by trigram indexes (models/search_postgres.py).
"""

from __future__ import annotations

import re

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


def spaced(text: str | None) -> str:
    """The text as it is indexed: a space around each CJK character."""
    return CJK.sub(r" \1 ", text or "")


def match(query: str) -> str:
    """An FTS5 query for what a person typed: every word must occur (Latin words as prefixes,
    CJK runs as phrases of their characters); "" when nothing searchable was typed."""
    terms = []
    for word in WORD.findall(query)[:20]:
        pieces = [piece for piece in CJK.split(word) if piece]  # each CJK character apart
        if len(pieces) > 1 or CJK.fullmatch(pieces[0]):
            terms.append('"' + " ".join(pieces) + '"')
        else:
            terms.append(f'"{word}"*')
    return " AND ".join(terms)


def install(database) -> None:
    """Register `spaced` on a SQLite database's connections (open_database and migrations)."""
    database.register_function(spaced, "spaced", 1)


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
