"""Per-agent, per-ticket reply tokens: support+TOKEN@ addresses that prove who answers.

A staff notice carries Reply-To support+a<agent>t<ticket>-<mac>@domain, and offers a note address
support+n<agent>t<ticket>-<mac>@domain whose mail stays internal. The MAC is an HMAC of purpose,
agent and ticket with the installation's secret, so a token cannot be made up, moved to another
ticket or agent, or turned from a note into a reply; rotating the secret revokes every token. Holding a token proves
nothing alone: the mail must also come from that agent's address (a forwarded notice does not
make its reader an agent).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import NamedTuple

TOKEN = re.compile(r"^([an])([0-9a-f]{1,12})t([0-9a-f]{1,12})-([0-9a-f]{20})$")


class Signed(NamedTuple):
    agent_id: int
    ticket_id: int
    note: bool  # the note address: what comes to it is an internal note, never relayed


def agent_token(secret: str, agent_id: int, ticket_id: int, note: bool = False) -> str:
    kind = "n" if note else "a"
    return f"{kind}{agent_id:x}t{ticket_id:x}-{_mac(secret, agent_id, ticket_id, note)}"


def read(secret: str, token: str) -> Signed | None:
    """Agent, ticket and purpose of a genuine token, else None."""
    found = TOKEN.match(token.lower())
    if not found or not secret:
        return None
    note, agent_id, ticket_id = found.group(1) == "n", int(found.group(2), 16), int(found.group(3), 16)
    if not hmac.compare_digest(found.group(4), _mac(secret, agent_id, ticket_id, note)):
        return None
    return Signed(agent_id, ticket_id, note)


def tokens_in(addresses: list[str], is_ours) -> list[str]:
    """The +tokens of the addresses that are one of our mailboxes (`is_ours(base_address)`)."""
    found = []
    for address in addresses:
        local, _, domain = address.lower().rpartition("@")
        base, plus, token = local.partition("+")
        if plus and is_ours(f"{base}@{domain}"):
            found.append(token)
    return found


def _mac(secret: str, agent_id: int, ticket_id: int, note: bool) -> str:
    purpose = "postdesk-agent-note" if note else "postdesk-agent-token"  # the reply's as first shipped
    message = f"{purpose}:{agent_id}:{ticket_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:20]


# Links in client mail: a survey rating (s<survey>r<rating>), a survey's comment form (s<survey>)
# and unsubscribing (u<customer>). Each MAC covers its purpose and numbers: a link cannot be
# turned into another rating, another survey or another customer's.
LINK = re.compile(r"^([su])([0-9a-f]{1,12})(?:r([1-5]))?-([0-9a-f]{20})$")


class Link(NamedTuple):
    kind: str  # "s" survey, "u" unsubscribe
    number: int  # the survey's or customer's id
    rating: int | None


def link_token(secret: str, kind: str, number: int, rating: int | None = None) -> str:
    body = f"{kind}{number:x}" + (f"r{rating}" if rating else "")
    return f"{body}-{_link_mac(secret, body)}"


def read_link(secret: str, token: str) -> Link | None:
    """What a genuine link token names, else None (made up, altered or signed with another key)."""
    found = LINK.match(token or "")
    if not found or not secret or (found.group(1) == "u" and found.group(3)):
        return None
    body = token.rsplit("-", 1)[0]
    if not hmac.compare_digest(found.group(4), _link_mac(secret, body)):
        return None
    return Link(found.group(1), int(found.group(2), 16), int(found.group(3)) if found.group(3) else None)


def _link_mac(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), f"postdesk-link:{body}".encode(), hashlib.sha256).hexdigest()[:20]
