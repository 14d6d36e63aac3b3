"""Per-agent, per-ticket reply tokens: support+TOKEN@ addresses that prove who answers.

A staff notice carries Reply-To support+a<agent>t<ticket>-<mac>@domain. The MAC is an HMAC of
agent and ticket with the installation's secret, so a token cannot be made up or moved to another
ticket or agent, and rotating the secret revokes every token at once. Holding a token proves
nothing alone: the mail must also come from that agent's address (a forwarded notice does not
make its reader an agent).
"""

from __future__ import annotations

import hashlib
import hmac
import re

TOKEN = re.compile(r"^a([0-9a-f]{1,12})t([0-9a-f]{1,12})-([0-9a-f]{20})$")


def agent_token(secret: str, agent_id: int, ticket_id: int) -> str:
    return f"a{agent_id:x}t{ticket_id:x}-{_mac(secret, agent_id, ticket_id)}"


def read(secret: str, token: str) -> tuple[int, int] | None:
    """(agent id, ticket id) of a genuine token, else None."""
    found = TOKEN.match(token.lower())
    if not found or not secret:
        return None
    agent_id, ticket_id = int(found.group(1), 16), int(found.group(2), 16)
    if not hmac.compare_digest(found.group(3), _mac(secret, agent_id, ticket_id)):
        return None
    return agent_id, ticket_id


def tokens_in(addresses: list[str], is_ours) -> list[str]:
    """The +tokens of the addresses that are one of our mailboxes (`is_ours(base_address)`)."""
    found = []
    for address in addresses:
        local, _, domain = address.lower().rpartition("@")
        base, plus, token = local.partition("+")
        if plus and is_ours(f"{base}@{domain}"):
            found.append(token)
    return found


def _mac(secret: str, agent_id: int, ticket_id: int) -> str:
    message = f"postdesk-agent-token:{agent_id}:{ticket_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:20]
