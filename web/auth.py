"""Staff login and logout; `login_required` guards every admin view."""

from __future__ import annotations

import functools
import hmac
import math
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.urls import iri_to_uri

from models import agents, sessions
from models.base import utcnow

from . import i18n

bp = Blueprint("auth", __name__)


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        web = current_app.config["POSTDESK"].web
        found = sessions.find(session.get("session_id", ""), web.session_idle_minutes)
        if found is None:
            session.clear()
            return redirect(url_for("auth.login", next=request.full_path))
        g.agent = found.agent
        return view(**kwargs)
    return wrapped


def admin_required(view):
    """Signed in, and an admin (operations, settings, agents): agents get 403."""
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.agent.role != "admin":
            abort(403)
        return view(**kwargs)
    return login_required(wrapped)


@bp.route("/login", methods=("GET", "POST"))
def login():
    """The login form; a right password starts a server-side session and returns to `next`."""
    if request.method == "GET":
        return render_template("web/login.html")
    web = current_app.config["POSTDESK"].web
    email = request.form.get("email", "")
    result = agents.log_in(email, request.form.get("password", ""),
                           client=request.remote_addr or "", attempts=web.login_attempts,
                           lockout_minutes=web.login_lockout_minutes,
                           idle_minutes=web.session_idle_minutes,
                           account_attempts=web.login_attempts_per_account, device=_known_device(email))
    if result.locked_until:
        wait = max(1, math.ceil((result.locked_until - utcnow()).total_seconds()))
        return render_template("web/login.html", locked_minutes=math.ceil(wait / 60)), 429, {
            "Retry-After": str(wait)}
    if not result.session_id:
        return render_template("web/login.html", error=gettext("Unknown address or wrong password.")), 401
    session.clear()
    session["session_id"] = result.session_id
    session.permanent = True  # the cookie lasts PERMANENT_SESSION_LIFETIME, the idle timeout
    response = redirect(local_target(request.args.get("next", ""), url_for("tickets.index")))
    response.set_cookie(DEVICE_COOKIE, _devices().dumps(_remembered(email)), max_age=DEVICE_SECONDS,
                        httponly=True, secure=web.secure_cookies, samesite="Lax")
    return response


# The browser's device cookie (OWASP's "device cookies"): the staff addresses that logged in from
# it, each with a nonce its failures are counted under and the fingerprint of the agent's
# password (`agents.device_fingerprint`), signed. Kept for DEVICE_SECONDS, up to DEVICE_ENTRIES.
DEVICE_COOKIE = "postdesk_device"
DEVICE_SECONDS = 90 * 24 * 3600
DEVICE_ENTRIES = 5


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="postdesk-known-device")


def _device_entries() -> list[list[str]]:
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    try:
        entries = _devices().loads(cookie, max_age=DEVICE_SECONDS) if cookie else []
    except BadSignature:  # forged, from another installation, or too old
        return []
    return [e for e in entries if isinstance(e, list) and len(e) == 3 and all(isinstance(v, str) for v in e)] \
        if isinstance(entries, list) else []


def _known_device(email: str) -> str:
    """The nonce under which this browser's failures for `email` are counted, when it has logged
    in as `email` since the agent's password last changed; else ""."""
    email = email.strip().lower()
    for address, nonce, fingerprint in _device_entries():
        if address == email:
            expected = agents.device_fingerprint(email)
            return nonce if expected and hmac.compare_digest(fingerprint, expected) else ""
    return ""


def _remembered(email: str) -> list[list[str]]:
    """The cookie's entries with this address first, under a fresh nonce."""
    email = email.strip().lower()
    others = [e for e in _device_entries() if e[0] != email]
    return [[email, secrets.token_urlsafe(16), agents.device_fingerprint(email)], *others][:DEVICE_ENTRIES]


@bp.post("/logout")
def logout():
    """End the session on the server, so a copy of the cookie is worth nothing."""
    sessions.end(session.get("session_id", ""))
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=("GET", "POST"))
@login_required
def profile():
    """The agent's own settings: mail notices on or off, the admin's language and time zone."""
    if request.method == "POST":
        language, timezone = request.form.get("language", ""), request.form.get("timezone", "").strip()
        if language not in i18n.LANGUAGES or (timezone and not i18n.known_timezone(timezone)):
            flash(gettext("Unknown language or time zone."), "error")
            return redirect(url_for("auth.profile"))
        agents.set_notices(g.agent, request.form.get("notices") == "on")
        agents.set_preferences(g.agent, language, timezone)
        return redirect(url_for("auth.profile"))
    return render_template("web/profile.html", languages=i18n.LANGUAGES, zones=i18n.COMMON_ZONES)


def local_target(target: str, default: str) -> str:
    """`target` if a browser would read it as a path on this site, else `default`.

    Only local paths: an open redirect would let a phishing link borrow our login page. Browsers
    drop tab, CR and LF inside a URL (WHATWG URL Standard), so "/<tab>/evil.example" reads as
    "//evil.example", a link to another host; our own links never hold a control character, so
    one anywhere refuses the target (CR and LF could not go into the Location header anyway). A
    backslash right after the first "/" is refused too: browsers read it as a "/"."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    cleaned = target.strip(" ")  # as browsers do
    if not cleaned.startswith("/") or cleaned.startswith(("//", "/\\")):
        return default
    parts = urlsplit(cleaned)  # after the checks above: "//[" would make it raise
    if parts.scheme or parts.netloc:
        return default
    return iri_to_uri(cleaned)  # a header carries ASCII only
