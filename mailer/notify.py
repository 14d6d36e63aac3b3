"""Addresses on the mail we send: our Message-ID domain and a ticket's reply address."""

from __future__ import annotations


def message_id_domain(settings) -> str:
    return settings.outgoing.message_id_domain or settings.mailboxes[0].address.split("@")[1]


def reply_address(ticket, token: str = "") -> str:
    """support+TOKEN@domain: replies to it find their ticket whatever the client does to headers.
    The ticket's own token (clients), or a signed agent token (staff notices)."""
    local, domain = ticket.mailbox.address.split("@", 1)
    return f"{local}+{token or ticket.reply_token}@{domain}"
