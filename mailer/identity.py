"""Who wrote a mail: an agent only with proof, never by the From address alone."""

from __future__ import annotations

import functools
import logging
import re

import authres

from models.base import db
from models.tables import Agent, AgentAddress

from . import tokens
from .addresses import split_addresses, without_tag

log = logging.getLogger(__name__)

UNFOLD = re.compile(r"\r?\n(?=[ \t])")  # RFC 5322 §2.2.3: a line break before white space folds
# Every "by <host>" pair of a Received line, comments included: a stray match can only stop the
# walk early (on a hop above our MTA), which believes less, never more.
BY_HOST = re.compile(r"(?:^|[\s)])by\s+([^\s;()]+)", re.I)
# Which properties name the domain that passed: RFC 8601 §2.7.1 (dkim), RFC 7489 §11.2 (dmarc).
PROOF_PROPERTIES = {"dkim": ("d", "i"), "dmarc": ("from",)}


def find_agent(address: str) -> Agent | None:
    """The active agent owning this address (main or alternate), or its sub-address
    (agnes+helpdesk@ is agnes@'s: the same mailbox receives and sends both)."""
    candidates = _forms(address)
    agent = Agent.get_or_none(Agent.email.in_(candidates) & (Agent.active == True))  # noqa: E712
    if agent is not None:
        return agent
    return (Agent.select().join(AgentAddress)
            .where(AgentAddress.email.in_(candidates) & (Agent.active == True)).first())  # noqa: E712


def is_staff_address(address: str) -> bool:
    """Does an agent own this address, or the one its +tag is of, main or alternate, active or
    not (a former agent's address is still no client's)?"""
    candidates = _forms(address)
    return Agent.select().where(Agent.email.in_(candidates)).exists() or \
        AgentAddress.select().where(AgentAddress.email.in_(candidates)).exists()


def _forms(address: str) -> list[str]:
    """The address in lower case, and the one its +tag is of (agnes+helpdesk@ is agnes@'s)."""
    address = address.lower()
    return list(dict.fromkeys((address, without_tag(address))))


def agent_addresses_among(addresses: list[str]) -> set[str]:
    """Those of the addresses (lower case) that an active agent owns, main or alternate."""
    if not addresses:
        return set()
    return {email for email, in db.execute_sql(_among_sql(len(addresses), db.param), [*addresses, *addresses])}


@functools.lru_cache(maxsize=64)
def _among_sql(count: int, p: str) -> str:
    """One statement (UNION) for `count` addresses, its SQL built once: a mail copied to people
    asks it every time."""
    marks = ", ".join([p] * count)
    return (f"SELECT email FROM agent WHERE active AND email IN ({marks}) UNION SELECT agent_address.email "
            f"FROM agent_address JOIN agent ON agent.id = agent_address.agent_id "
            f"WHERE agent.active AND agent_address.email IN ({marks})")


def authenticated_domains(mail, inbound) -> set[str]:
    """Domains that passed DKIM or DMARC according to the Authentication-Results our own MTA
    added (RFC 8601); `inbound` is `settings.inbound`.

    Anyone can write this header, with any authserv-id, so its place decides. Our MTA puts its
    verdicts above the Received line it writes on accepting the mail (RFC 8601 §7.1); every
    field at or below that line came with the mail and was written by someone else. So the fields
    are walked from the top, and only the Authentication-Results met before the topmost Received
    "by" one of `trusted_mta_hosts` (default: the authserv-id as host name; case-insensitive)
    are kept. Hops after our MTA, Postdesk's SMTP edge or a Dovecot LMTP delivery, prepend their
    Received above it and change nothing. No Received by our MTA: nothing is believed. Of the
    kept fields, those with our authserv-id count, parsed by authres; one it cannot parse counts
    for nothing. A copy claiming "pass" below our MTA's "fail" is thus never read.

    OpenDKIM 2.11.0 and OpenDMARC 1.4.2 insert at milter index 1, which Postfix places just
    below its own Received line: their verdicts are not believed (fixed upstream to index 0).
    """
    if not inbound.trusted_authserv_id or mail.headers is None:
        return set()
    authserv_id = inbound.trusted_authserv_id.lower()
    hosts = {host.lower() for host in inbound.trusted_mta_hosts or (inbound.trusted_authserv_id,)}
    passed = set()
    for value in results_above_our_mta(mail.headers, hosts):
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except (authres.AuthResError, ValueError) as exc:
            log.debug("%s Authentication-Results ignored, not RFC 8601: %s", mail.message_id, exc)
            continue
        if header.authserv_id == authserv_id:
            passed |= passing_domains(header.results)
    return passed


def results_above_our_mta(headers, hosts: set[str]) -> list[str]:
    """Unfolded Authentication-Results values above the topmost Received by one of `hosts`;
    none when no such Received exists."""
    above = []
    for name, value in headers.raw_items():  # top-down, as the fields stand in the mail
        name, value = name.lower(), UNFOLD.sub("", str(value))
        if name == "received" and hosts & {host.lower() for host in BY_HOST.findall(value)}:
            return above
        if name == "authentication-results":
            above.append(value)
    return []


def passing_domains(results) -> set[str]:
    """Domains named by the dkim (header.d, header.i) and dmarc (header.from) results that pass."""
    domains = set()
    for result in results:
        if result.result != "pass":
            continue
        names = PROOF_PROPERTIES.get(result.method, ())
        for prop in result.properties:
            if prop.type == "header" and prop.name in names and prop.value:
                domains.add(prop.value.rpartition("@")[2].lower())  # header.i may be a whole address
    return domains


def agent_by_token(settings, recipients: list[str], sender: str) -> tuple[Agent | None, str, bool]:
    """The agent a signed token in `recipients` names, when the mail comes from one of that
    agent's addresses, and whether it went to their note address (a reply-all to a notice that
    adds the note address stays internal too); else (None, why not, False), with "" for why
    not when there is no token at all."""
    signed = _signed_tokens(settings, recipients)
    if not signed:
        return None, "", False
    agent = _active(signed[0].agent_id)
    if agent is None or find_agent(sender) != agent:
        return None, f"agent token of agent {signed[0].agent_id} used from {sender}", False
    return agent, "", any(s.note for s in signed if s.agent_id == agent.id)


def token_agent(settings, recipients: list[str]) -> Agent | None:
    """The active agent the first signed token in `recipients` names, whoever wrote the mail."""
    signed = _signed_tokens(settings, recipients)
    return _active(signed[0].agent_id) if signed else None


def _signed_tokens(settings, recipients: list[str]) -> list:
    """The valid signed (agent) tokens among our addresses in `recipients`, in their order."""
    ours = tokens.tokens_in(recipients, lambda a: settings.mailbox_for(a) is not None)
    return [s for s in (tokens.read(settings.signing_key, t) for t in ours) if s is not None]


def _active(agent_id: int) -> Agent | None:
    return Agent.get_or_none((Agent.id == agent_id) & (Agent.active == True))  # noqa: E712


def is_proven(mail, inbound) -> bool:
    """The From domain is aligned with a DKIM/DMARC pass from our trusted MTA, and the mail has
    one From of one address (RFC 5322 §3.6; DMARC §6.6.1): a From added above a signed one (our
    own signed acknowledgement re-sent "From: Agnes") proves nothing, whatever a verifier said."""
    _, at, domain = mail.from_address.lower().rpartition("@")
    if not (at and domain) or mail.headers is None:
        return False
    froms = mail.headers.get_all("From") or []
    if len(froms) != 1 or len(split_addresses([str(froms[0])])) != 1:
        return False
    return domain in authenticated_domains(mail, inbound)
