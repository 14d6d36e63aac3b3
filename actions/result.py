"""What an action did (the caller enqueues the outgoing mail after its commit), or why it would not."""

from __future__ import annotations

from dataclasses import dataclass

from models.tables import Ticket


@dataclass(frozen=True)
class Done:
    outcome: str  # new_ticket, added, auto_reply, bounce, unchanged …
    ticket: Ticket | None = None
    outbox_ids: tuple[int, ...] = ()


class Reason(str):
    """Why an action would not: English as the string itself (mail, logs, the CLI), with its
    template and values kept, so the admin says it in the agent's language (web/forms.py). The
    templates are in the admin's catalogs (`make translations` extracts them)."""

    template: str
    values: dict

    def __new__(cls, template: str, **values):
        text = super().__new__(cls, template % values if values else template)
        text.template, text.values = template, values
        return text


class Refused(ValueError):
    """An action was asked for something its check_… twin refuses; the message says why."""


def refuse(reason: str) -> None:
    if reason:
        raise Refused(reason)
