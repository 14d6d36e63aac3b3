"""Health check for load balancers and monitoring: database and Redis reachable."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from models.tables import InboundMail
from postdesk import runtime

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    settings = current_app.config["POSTDESK"]
    checks = {}
    try:
        checks["unprocessed_mail"] = InboundMail.select().where(InboundMail.state == "received").count()
        # Set aside after every attempt failed: `postdesk replay` once the cause is fixed.
        checks["quarantined_mail"] = InboundMail.select().where(InboundMail.state == "quarantined").count()
        checks["database"] = "ok"
    except Exception as exc:  # health must report, not crash
        checks["database"] = f"error: {exc}"
    try:
        runtime.redis_connection(settings).ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc}"
    ok = checks["database"] == "ok" and checks["redis"] == "ok"
    return jsonify(status="ok" if ok else "degraded", **checks), 200 if ok else 503
