"""Staff accounts: creation, password checks (argon2) and logging in under a limit on guesses."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import sessions
from .base import db, utcnow
from .tables import Agent, AgentAddress

_hasher = PasswordHasher()


def create_agent(email: str, password: str, name: str = "", admin: bool = False) -> Agent:
    """Create, or update the password and role of, the agent with this address."""
    email = email.strip().lower()
    with db.atomic():
        agent, _ = Agent.get_or_create(email=email, defaults={"reply_secret": secrets.token_hex(16)})
        agent.name = name or agent.name or email.split("@")[0]
        agent.role = "admin" if admin else agent.role
        agent.active = True
        set_password(agent, password)
    return agent


def add_address(agent: Agent, email: str) -> None:
    """Another address the agent writes from; an address already an agent's is refused."""
    email = email.strip().lower()
    if Agent.select().where(Agent.email == email).exists():
        raise ValueError(f"{email} is an agent's main address")
    AgentAddress.insert(agent=agent, email=email).on_conflict_ignore().execute()


def set_notices(agent: Agent, on: bool) -> None:
    """Mail me new tickets and client replies (or not); replying by mail works either way."""
    Agent.update(notices=on).where(Agent.id == agent.id).execute()
    agent.notices = on


def set_preferences(agent: Agent, language: str, timezone: str) -> None:
    """The admin's language ("en", "zh", "": the browser's) and time zone ("": UTC) for them."""
    Agent.update(language=language, timezone=timezone).where(Agent.id == agent.id).execute()
    agent.language, agent.timezone = language, timezone


def set_password(agent: Agent, password: str) -> None:
    """The one way to set a password: saves the agent and ends all its sessions, so whoever knew
    the old password (or holds an old cookie) is out."""
    with db.atomic():
        agent.password_hash = _hasher.hash(password)
        agent.save()
        sessions.end_all(agent)


def authenticate(email: str, password: str) -> Agent | None:
    agent = Agent.get_or_none((Agent.email == email.strip().lower()) & (Agent.active == True))  # noqa: E712
    if agent is None or not agent.password_hash:
        _hasher.hash(password)  # same cost whether or not the account exists
        return None
    try:
        _hasher.verify(agent.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return agent


def device_fingerprint(email: str) -> str:
    """What a device cookie for this address must carry to be honoured: derived from the active
    agent's password hash, so a new password, or the agent made inactive, ends every cookie
    given before. "" when no active agent has the address."""
    agent = Agent.get_or_none((Agent.email == email.strip().lower()) & (Agent.active == True))  # noqa: E712
    if agent is None or not agent.password_hash:
        return ""
    return hashlib.sha256(f"postdesk-device:{agent.password_hash}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Login:
    """What a login attempt came to: a session id, a wrong password, or a lockout."""

    session_id: str = ""
    locked_until: dt.datetime | None = None


def log_in(email: str, password: str, client: str, attempts: int, lockout_minutes: int,
           idle_minutes: int, account_attempts: int | None = None, device: str = "") -> Login:
    """Check the password and start a session, unless, within `lockout_minutes`, the client
    address has had `attempts` wrong passwords, or the staff address `account_attempts` from
    anywhere: then refuse even the right one. A browser this address has logged in from before
    (`device`: the nonce of its device cookie, see `device_fingerprint`) is counted on its own
    instead, `attempts` for it alone (OWASP's device cookies): guessing from elsewhere, from
    many machines or from behind the same address, cannot lock the agent out of it, and a copy
    of its cookie buys no more guesses than any client address has."""
    email_key = sessions.failure_key("email", email)
    if device:
        limits = {sessions.failure_key("device", device): attempts}
    else:
        limits = {sessions.failure_key("ip", client): attempts, email_key: account_attempts or attempts}
    counted = sessions.count_attempt(limits, lockout_minutes)
    if not counted:
        # `or now`: the oldest failures may have left the window since they were counted.
        return Login(locked_until=sessions.locked_until(limits, lockout_minutes) or utcnow())
    agent = authenticate(email, password)
    if agent is None:
        return Login()  # the attempt stays counted as a failure
    sessions.forgive([email_key, *[key for key in limits if key.startswith("device:")]], counted)
    return Login(session_id=sessions.start(agent, idle_minutes))
