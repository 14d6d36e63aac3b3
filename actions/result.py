"""What an action did (the caller enqueues the outgoing mail after its commit), or why it would not."""

from __future__ import annotations

from dataclasses import dataclass

from models.tables import Ticket


@dataclass(frozen=True)
class Done:
    outcome: str  # new_ticket, added, auto_reply, bounce, unchanged …
    ticket: Ticket | None = None
    outbox_ids: tuple[int, ...] = ()


class Refused(ValueError):
    """An action was asked for something its check_… twin refuses; the message says why."""


def refuse(reason: str) -> None:
    if reason:
        raise Refused(reason)
