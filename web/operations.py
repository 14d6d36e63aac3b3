"""What operators watch (admins only): inbound mail that failed or was set aside, with its raw
bytes and a replay; and the health of the running parts."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from peewee import fn

from models import inbound, status
from models.base import utcnow
from models.tables import InboundMail
from workers.handover import enqueue_processing

from . import monitoring
from .auth import admin_required
from .text import row_number

bp = Blueprint("operations", __name__)
PAGE = 100
# What an operator looks at: mail that did not become a message, and why.
SHOWN = {"quarantined": _l("every attempt failed; replay once the cause is fixed"),
         "rejected": _l("refused with a reason (too big, empty, unreadable)"),
         "received": _l("stored, not processed yet")}
SET_ASIDE_OUTCOMES = ("auto_reply_unthreaded", "bounce", "complaint", "report", "loop", "duplicate")


@bp.get("/inbound")
@admin_required
def inbound_mail():
    state = request.args.get("state", "quarantined")
    before = request.args.get("before", type=row_number)
    query = InboundMail.select(*[f for f in InboundMail._meta.sorted_fields if f is not InboundMail.raw])
    if state in SHOWN:
        query = query.where(InboundMail.state == state)
    elif state in SET_ASIDE_OUTCOMES:
        query = query.where((InboundMail.state == "processed") & (InboundMail.outcome == state))
    else:
        abort(404)
    if before:
        query = query.where(InboundMail.id < before)
    rows = list(query.order_by(InboundMail.id.desc()).limit(PAGE + 1))
    counts = dict(InboundMail.select(InboundMail.state, fn.COUNT(InboundMail.id))
                  .where(InboundMail.state.in_(list(SHOWN))).group_by(InboundMail.state).tuples())
    return render_template("web/inbound.html", rows=rows[:PAGE], state=state, shown=SHOWN, counts=counts,
                           outcomes=SET_ASIDE_OUTCOMES, before=rows[PAGE - 1].id if len(rows) > PAGE else None)


@bp.get("/inbound/<int:inbound_id>")
@admin_required
def inbound_detail(inbound_id):
    row = InboundMail.get_or_none(InboundMail.id == inbound_id) or abort(404)
    raw = bytes(row.raw)
    return render_template("web/inbound_mail.html", row=row, preview=raw[:200_000].decode("utf-8", "replace"),
                           cut=len(raw) > 200_000, replayable=row.state in ("quarantined", "rejected"))


@bp.get("/inbound/<int:inbound_id>.eml")
@admin_required
def inbound_raw(inbound_id):
    """The mail byte for byte as it came, to download (never shown as HTML)."""
    row = InboundMail.get_or_none(InboundMail.id == inbound_id) or abort(404)
    return Response(bytes(row.raw), mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="inbound-{row.id}.eml"', "X-Content-Type-Options": "nosniff"})


@bp.post("/inbound/<int:inbound_id>/replay")
@admin_required
def replay(inbound_id):
    row = InboundMail.get_or_none(InboundMail.id == inbound_id) or abort(404)
    if row.state not in ("quarantined", "rejected"):
        flash(gettext("Mail %(id)s is %(state)s: only quarantined or rejected mail is replayed.", id=row.id,
                      state=row.state), "error")
    else:
        inbound.release_for_replay([row.id])
        queued = enqueue_processing(current_app.config["POSTDESK"], [row.id])
        flash(gettext("Mail %(id)s is queued to be processed again.", id=row.id) if queued else
              gettext("Mail %(id)s will be processed again when the workers reach Redis.", id=row.id), "info")
    return redirect(url_for("operations.inbound_detail", inbound_id=row.id), 303)


@bp.get("/status")
@admin_required
def health():
    """The running parts at a glance (the same sources as /metrics)."""
    settings = current_app.config["POSTDESK"]
    now = utcnow()
    oldest, backlog = status.oldest_unprocessed(), status.inbound_by_state()
    live = monitoring.redis_status(settings)
    redis_state = {"error": live.error} if live.error else {
        "queued jobs": sum(q["queued"] for q in live.queues.values()), "last runs": live.last_runs,
        "memory": live.memory}
    checkpoints = status.imap_checkpoints()
    accounts = [(a.name, monitoring.parse_run(live.imap_fetches.get(a.name))  # else when it last stored a mail
                 or getattr(checkpoints.get(a.name), "updated_at", None)) for a in settings.imap]
    return render_template("web/health.html", now=now, lag=(now - oldest) if oldest else dt.timedelta(0),
                           unprocessed=backlog["received"], quarantined=backlog["quarantined"],
                           outbox=status.outbox_by_state(), held=status.held_customers(), workers=live.workers,
                           redis_state=redis_state, accounts=accounts)
