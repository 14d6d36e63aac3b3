"""Staff login and logout; `login_required` guards every admin view."""

from __future__ import annotations

import functools

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from models import agents
from models.tables import Agent

bp = Blueprint("auth", __name__)


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        agent = Agent.get_or_none((Agent.id == session.get("agent_id")) & (Agent.active == True))  # noqa: E712
        if agent is None:
            return redirect(url_for("auth.login", next=request.full_path))
        g.agent = agent
        return view(**kwargs)
    return wrapped


@bp.route("/login", methods=("GET", "POST"))
def login():
    error = None
    if request.method == "POST":
        agent = agents.authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if agent is None:
            error = "Unknown address or wrong password."
        else:
            session.clear()
            session["agent_id"] = agent.id
            target = request.args.get("next", "")
            # Only local paths: an open redirect would let a phishing link borrow our login page.
            return redirect(target if target.startswith("/") and not target.startswith("//")
                            else url_for("tickets.index"))
    return render_template("web/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))
