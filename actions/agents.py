"""Staff accounts managed by admins in the web: create, role, active, password, addresses.

Each verb has its check twin, as the ticket verbs do. Changes to accounts concern no ticket: each
is an AccountEvent with its actor (shown on the admin's staff page), in the change's transaction."""

from __future__ import annotations

import logging

from mailer.addresses import is_plain_address
from mailer.reasons import Reason
from models import agents, sessions
from models.base import db
from models.tables import AccountEvent, Agent

from .result import Done, refuse

log = logging.getLogger(__name__)
ROLES = ("agent", "admin")
MIN_PASSWORD = 10


def check_new(email: str, password: str, role: str) -> str:
    if not is_plain_address(email):
        return Reason("%(address)r is not an email address", address=email)
    if Agent.select().where(Agent.email == email.strip().lower()).exists():
        return Reason("%(address)s already has a login", address=email.strip().lower())
    if role not in ROLES:
        return Reason("unknown role %(value)r: use agent or admin", value=role)
    return check_password(password)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        return Reason("a password needs at least %(num)d characters", num=MIN_PASSWORD)
    return ""


def create(email: str, name: str, password: str, role: str, *, actor: Agent) -> Agent:
    refuse(check_new(email, password, role))
    with db.atomic():
        agent = agents.create_agent(email, password, name=name.strip(), admin=role == "admin")
        _record(agent, actor, "created", f"{role} login {agent.email}")
    return agent


def check_role(agent: Agent, role: str, actor: Agent) -> str:
    if role not in ROLES:
        return Reason("unknown role %(value)r: use agent or admin", value=role)
    if agent.id == actor.id and role != "admin":
        return Reason("you cannot take the admin role from yourself (ask another admin)")
    return ""


def set_role(agent: Agent, role: str, *, actor: Agent) -> Done:
    refuse(check_role(agent, role, actor))
    if role != agent.role:
        with db.atomic():
            Agent.update(role=role).where(Agent.id == agent.id).execute()
            _record(agent, actor, "role", f"{agent.role} → {role}")
        agent.role = role
    return Done("role", None)


def check_active(agent: Agent, active: bool, actor: Agent) -> str:
    return Reason("you cannot deactivate yourself") if agent.id == actor.id and not active else ""


def set_active(agent: Agent, active: bool, *, actor: Agent) -> Done:
    """An inactive agent cannot log in (their sessions end at once), gets no notices, and their
    mail is no longer taken as staff mail; their tickets stay assigned until reassigned."""
    refuse(check_active(agent, active, actor))
    with db.atomic():
        Agent.update(active=active).where(Agent.id == agent.id).execute()
        if not active:
            sessions.end_all(agent)
        _record(agent, actor, "active", "reactivated" if active else "deactivated")
    agent.active = active
    return Done("active", None)


def reset_password(agent: Agent, password: str, *, actor: Agent) -> Done:
    refuse(check_password(password))
    with db.atomic():
        agents.set_password(agent, password)  # ends their sessions
        _record(agent, actor, "password", "a new password; their sessions ended")
    return Done("password", None)


def add_address(agent: Agent, email: str, *, actor: Agent) -> Done:
    if not is_plain_address(email):
        refuse(Reason("%(address)r is not an email address", address=email))
    try:
        with db.atomic():
            agents.add_address(agent, email)
            _record(agent, actor, "address", email.strip().lower())
    except ValueError as exc:
        refuse(str(exc))
    return Done("address", None)


def _record(agent: Agent, actor: Agent, action: str, detail: str, via: str = "web") -> None:
    AccountEvent.create(agent=agent, actor=actor.email, action=action, detail=detail, via=via)
    log.info("%s changed the login %s: %s %s", actor.email, agent.email, action, detail)
