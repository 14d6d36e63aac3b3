"""Flask app factory for the admin; one blueprint per area, views stay thin."""

from __future__ import annotations

import datetime as dt

from flask import Flask, g
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter

from mailer.compose import TEMPLATES
from models.base import db
from postdesk import config as configuration
from postdesk import runtime

from . import text

csrf = CSRFProtect()
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'")


class RowNumberConverter(IntegerConverter):
    """Flask's int converter, bounded by what a database column holds: a 30-digit number in a
    link is no page (404), not an OverflowError (500)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", text.ROW_MAX)
        super().__init__(url_map, *args, **kwargs)


def create_app(settings: configuration.Settings | None = None, testing: bool = False) -> Flask:
    settings = runtime.init(settings or configuration.load())
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=None)
    app.config.update(
        SECRET_KEY=configuration.secret_key(settings),
        POSTDESK=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        # The cookie outlives no session: both end after this long unused (the session on the
        # server, see models/sessions.py; the cookie because each response renews it).
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.web.session_idle_minutes),
        TESTING=testing,
        MAX_CONTENT_LENGTH=settings.smtp.max_message_bytes,  # a reply's attachments: the mail limit
        # A form's token lives as long as the session it is tied to, which ends on its own when
        # unused: an agent who writes a long reply for over an hour must not lose it to a 400.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.url_map.converters["int"] = RowNumberConverter  # /tickets/<int:number>: never past a column's range
    csrf.init_app(app)
    from . import i18n

    i18n.init_app(app)
    if settings.web.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only the hops we run: a client's own X-Forwarded-For must not pick its address.
        n = settings.web.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)

    @app.before_request
    def _connect():
        db.connect(reuse_if_open=True)

    @app.after_request
    def _security_headers(response):
        # Mail HTML is sanitised, and still: no scripts at all, and no remote images (tracking
        # pixels tell the sender when and where an agent read their mail).
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if g.get("agent") is not None:  # a signed-in page or file: not kept for Back after logout
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.teardown_request
    def _close(exc):
        if not db.is_closed():
            db.close()

    from . import admin, auth, customers, dashboard, health, metrics, operations, surveys, tickets
    app.register_blueprint(auth.bp)
    app.register_blueprint(tickets.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(surveys.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(operations.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(metrics.bp)
    return app
