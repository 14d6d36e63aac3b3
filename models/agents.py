"""Staff accounts: creation and password checks (argon2)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .base import db
from .tables import Agent

_hasher = PasswordHasher()


def create_agent(email: str, password: str, name: str = "", admin: bool = False) -> Agent:
    """Create, or update the password and role of, the agent with this address."""
    email = email.strip().lower()
    with db.atomic():
        agent, _ = Agent.get_or_create(email=email, defaults={"reply_secret": secrets.token_hex(16)})
        agent.name = name or agent.name or email.split("@")[0]
        agent.role = "admin" if admin else agent.role
        agent.password_hash = _hasher.hash(password)
        agent.active = True
        agent.save()
    return agent


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
