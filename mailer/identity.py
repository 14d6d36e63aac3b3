"""Who wrote a mail: an agent only with proof, never by the From address alone."""

from __future__ import annotations

import re

from models.tables import Agent

RESULT = re.compile(r"\b(dkim|dmarc)\s*=\s*(\w+)([^;]*)", re.I)
PROPERTY = re.compile(r"\bheader\.(d|from)\s*=\s*([^\s;]+)", re.I)


def find_agent(address: str) -> Agent | None:
    """The active agent owning this address (main or alternate)."""
    address = address.lower()
    agent = Agent.get_or_none((Agent.email == address) & (Agent.active == True))  # noqa: E712
    if agent is not None:
        return agent
    for candidate in Agent.select().where((Agent.active == True) & Agent.alternate_emails.contains(address)):  # noqa: E712
        if address in candidate.alternate_emails.lower().split():
            return candidate
    return None


def authenticated_domains(mail, trusted_authserv_id: str) -> set[str]:
    """Domains that passed DKIM or DMARC according to Authentication-Results headers added by
    our own MTA (RFC 8601). Only that authserv-id counts: anyone can write the header, and a
    conforming MTA removes copies claiming its own id before adding its verdict (§5)."""
    if not trusted_authserv_id or mail.headers is None:
        return set()
    passed = set()
    for value in mail.headers.get_all("Authentication-Results", []):
        authserv, _, results = str(value).partition(";")
        if authserv.strip().split()[0:1] != [trusted_authserv_id]:
            continue
        for _method, verdict, properties in RESULT.findall(results):
            if verdict.lower() != "pass":
                continue
            for _, domain in PROPERTY.findall(properties):
                passed.add(domain.strip().lower().split("@")[-1])
    return passed


def is_proven(mail, trusted_authserv_id: str) -> bool:
    """The From domain is aligned with a DKIM/DMARC pass from our trusted MTA."""
    domain = mail.from_address.rpartition("@")[2]
    return bool(domain) and domain in authenticated_domains(mail, trusted_authserv_id)
