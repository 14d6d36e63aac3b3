"""For admins: the staff's logins and roles, and the settings Postdesk runs with (read-only: they
live in config.toml)."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from actions import agents as act
from models.tables import AccountEvent, Agent, AgentAddress

from .auth import admin_required
from .forms import attempt

bp = Blueprint("admin", __name__)
SECRET = ("relay_password", "auth_password", "secret_key", "password")
CHANGES = 30  # the latest changes to logins shown


@bp.get("/agents")
@admin_required
def agents():
    staff = list(Agent.select().order_by(Agent.active.desc(), Agent.name, Agent.email))
    addresses: dict[int, list[str]] = {}
    for row in AgentAddress.select():
        addresses.setdefault(row.agent_id, []).append(row.email)
    changes = AccountEvent.select(AccountEvent, Agent).join(Agent).order_by(AccountEvent.id.desc()).limit(CHANGES)
    return render_template("web/agents.html", staff=staff, addresses=addresses, roles=act.ROLES, changes=changes,
                           changes_named={"created": _l("login created"), "role": _l("role"),
                                          "active": _l("active / inactive"), "password": _l("password"),
                                          "address": _l("address added")})


@bp.post("/agents")
@admin_required
def create():
    agent = attempt(lambda: act.create(request.form.get("email", ""), request.form.get("name", ""),
                                       request.form.get("password", ""), request.form.get("role", "agent"),
                                       actor=g.agent))
    if agent is not None:
        flash(gettext("%(email)s can log in now.", email=agent.email), "info")
    return redirect(url_for("admin.agents"), 303)


@bp.post("/agents/<int:agent_id>/<field>")
@admin_required
def change(agent_id: int, field: str):
    agent = Agent.get_or_none(Agent.id == agent_id) or abort(404)
    value = request.form.get("value", "")
    verbs = {"role": lambda: act.set_role(agent, value, actor=g.agent),
             "active": lambda: act.set_active(agent, value == "1", actor=g.agent),
             "password": lambda: act.reset_password(agent, value, actor=g.agent),
             "address": lambda: act.add_address(agent, value, actor=g.agent)}
    if field not in verbs:
        abort(404)
    attempt(verbs[field])
    return redirect(url_for("admin.agents"), 303)


@bp.get("/settings")
@admin_required
def settings():
    """What config.toml says, section by section, secrets left out."""
    configured = current_app.config["POSTDESK"]
    return render_template("web/settings.html", settings=configured, source=configured.source, shown=_shown)


def _shown(section) -> list[tuple[str, object]]:
    """(key, value) of a settings section, with secrets as "(set)" or "(empty)"."""
    return [(f.name, ("(set)" if getattr(section, f.name) else "(empty)") if f.name in SECRET
             else getattr(section, f.name)) for f in dataclasses.fields(section)]
