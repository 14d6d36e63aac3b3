"""Full-text search over tickets on PostgreSQL, with the meaning of models/search.py (SQLite):
every word typed must occur in the ticket's subject or in one of its messages, Chinese words as
well as English ones.

PostgreSQL's own text search (tsvector) splits text at spaces and knows no Chinese words, so
it would find 发票 only where it stood alone. Search here is a case-insensitive substring match
(ILIKE) of each word, which needs no word boundaries, served by trigram indexes (pg_trgm, shipped
with PostgreSQL) on the subject and on the indexed start of each message. A Latin word matches
wherever it stands ("voice" finds "invoice"; on SQLite only as a word's start); a word shorter
than three characters uses no trigram, so the index gives every row and the match checks them.
"""

from __future__ import annotations

import functools

from peewee import OP, Expression, fn

from .search import INDEXED, WORD
from .tables import Message, Ticket

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ticket_subject_trigrams ON ticket USING gin (subject gin_trgm_ops)",
    f"CREATE INDEX IF NOT EXISTS message_text_trigrams ON message USING gin ((substr(text, 1, {INDEXED})) "
    "gin_trgm_ops)",
)


def create(database) -> None:
    """The trigram extension and indexes (migration 13)."""
    database.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for statement in INDEXES:
        database.execute_sql(statement)


def newest(query: str, limit: int) -> list[int]:
    """The ids of up to `limit` tickets with every word of the query in their subject or in one
    of their messages (the words as models/search.py reads them), the newest matches first."""
    patterns = [_pattern(word) for word in WORD.findall(query)[:20]]
    if not patterns:
        return []
    text = fn.substr(Message.text, 1, INDEXED)  # the indexed expression, as the index writes it
    in_messages = Message.select(Message.ticket).where(_all(text, patterns)).order_by(Message.id.desc()).limit(limit)
    in_subjects = Ticket.select(Ticket.id).where(_all(Ticket.subject, patterns)).order_by(Ticket.id.desc()).limit(limit)
    found = [t for t, in in_messages.tuples()] + [t for t, in in_subjects.tuples()]
    return list(dict.fromkeys(found))[:limit]


def _pattern(word: str) -> str:
    r"""%word% for ILIKE, its wildcards taken literally (a word may hold "_"; "\" is LIKE's escape)."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _all(column, patterns: list[str]):
    return functools.reduce(lambda a, b: a & b, [Expression(column, OP.ILIKE, pattern) for pattern in patterns])
