"""The mail a log line is about (its Message-ID, ticket, inbound row), carried for structured logs.

The pipeline says which mail it is handling once, and every line logged meanwhile, by any module
on the way, carries those fields; `postdesk.logs` writes them as JSON keys. A line may also name
them itself with `extra={"message_id": …}`, which wins.
"""

from __future__ import annotations

import contextlib
import contextvars

FIELDS = ("message_id", "ticket", "inbound", "outbox")

_current: contextvars.ContextVar[dict | None] = contextvars.ContextVar("postdesk_log_fields", default=None)


@contextlib.contextmanager
def about(**fields):
    """Lines logged inside the block carry these fields (None values are left out)."""
    token = _current.set({**current(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _current.reset(token)


def note(**fields) -> None:
    """Add to the fields of the enclosing `about` block (e.g. the ticket, once it is found)."""
    _current.set({**current(), **{k: v for k, v in fields.items() if v is not None}})


def current() -> dict:
    return _current.get() or {}
