"""Staff accounts managed by admins in the web: create, role, active, password, addresses.

Each verb has its check twin, as the ticket verbs do. Changes to accounts concern no ticket, so
they are written to the log with their actor (the ticket timeline keeps what agents do to
tickets)."""

from __future__ import annotations

import logging

from models import agents, sessions
from models.tables import Agent

from .customers import ADDRESS
from .result import Done, refuse

log = logging.getLogger(__name__)
ROLES = ("agent", "admin")
MIN_PASSWORD = 10


def check_new(email: str, password: str, role: str) -> str:
    if not ADDRESS.fullmatch(email.strip()):
        return f"{email!r} is not an email address"
    if Agent.select().where(Agent.email == email.strip().lower()).exists():
        return f"{email.strip().lower()} already has a login"
    if role not in ROLES:
        return f"unknown role {role!r}: use agent or admin"
    return check_password(password)


def check_password(password: str) -> str:
    return "" if len(password) >= MIN_PASSWORD else f"a password needs at least {MIN_PASSWORD} characters"


def create(email: str, name: str, password: str, role: str, *, actor: Agent) -> Agent:
    refuse(check_new(email, password, role))
    agent = agents.create_agent(email, password, name=name.strip(), admin=role == "admin")
    log.info("%s created the %s login %s", actor.email, role, agent.email)
    return agent


def check_role(agent: Agent, role: str, actor: Agent) -> str:
    if role not in ROLES:
        return f"unknown role {role!r}: use agent or admin"
    if agent.id == actor.id and role != "admin":
        return "you cannot take the admin role from yourself (ask another admin)"
    return ""


def set_role(agent: Agent, role: str, *, actor: Agent) -> Done:
    refuse(check_role(agent, role, actor))
    if role != agent.role:
        Agent.update(role=role).where(Agent.id == agent.id).execute()
        log.info("%s made %s %s (was %s)", actor.email, agent.email, role, agent.role)
        agent.role = role
    return Done("role", None)


def check_active(agent: Agent, active: bool, actor: Agent) -> str:
    return "you cannot deactivate yourself" if agent.id == actor.id and not active else ""


def set_active(agent: Agent, active: bool, *, actor: Agent) -> Done:
    """An inactive agent cannot log in (their sessions end at once), gets no notices, and their
    mail is no longer taken as staff mail; their tickets stay assigned until reassigned."""
    refuse(check_active(agent, active, actor))
    Agent.update(active=active).where(Agent.id == agent.id).execute()
    if not active:
        sessions.end_all(agent)
    log.info("%s %s %s", actor.email, "reactivated" if active else "deactivated", agent.email)
    agent.active = active
    return Done("active", None)


def reset_password(agent: Agent, password: str, *, actor: Agent) -> Done:
    refuse(check_password(password))
    agents.set_password(agent, password)  # ends their sessions
    log.info("%s set a new password for %s", actor.email, agent.email)
    return Done("password", None)


def add_address(agent: Agent, email: str, *, actor: Agent) -> Done:
    if not ADDRESS.fullmatch(email.strip()):
        refuse(f"{email!r} is not an email address")
    try:
        agents.add_address(agent, email)
    except ValueError as exc:
        refuse(str(exc))
    log.info("%s added %s to %s", actor.email, email.strip().lower(), agent.email)
    return Done("address", None)
