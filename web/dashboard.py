"""The dashboard: service levels, response times, backlog, satisfaction, agents, tiers and
complaints over a date range, each as a chart and a table, each table also as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import lazy_gettext as _l

from models import reports
from models.base import utcnow

from . import charts, i18n
from .auth import login_required

bp = Blueprint("dashboard", __name__)
DEFAULT_DAYS = 30
# The tables' titles and columns as the agent reads them (the CSV keeps the plain names).
WORDS = {
    "SLA compliance by week": _l("SLA compliance by week"), "SLA compliance by policy": _l("SLA compliance by policy"),
    "First response time": _l("First response time"), "Resolution time": _l("Resolution time"),
    "Backlog by status and age (now)": _l("Backlog by status and age (now)"),
    "Satisfaction by week": _l("Satisfaction by week"), "Ratings": _l("Ratings"),
    "Recent comments": _l("Recent comments"), "Agents": _l("Agents"),
    "Service by customer tier": _l("Service by customer tier"), "Complaints by cause": _l("Complaints by cause"),
    "week": _l("week"), "policy": _l("policy"), "tickets": _l("tickets"), "breached": _l("breached"),
    "compliance %": _l("compliance %"), "wait": _l("wait"), "status": _l("status"), "total": _l("total"),
    "surveys": _l("surveys"), "answers": _l("answers"), "average": _l("average"), "CSAT %": _l("CSAT %"),
    "rating": _l("rating"), "answered": _l("answered"), "ticket": _l("ticket"), "comment": _l("comment"),
    "agent": _l("agent"), "replies": _l("replies"), "first response median h": _l("first response median h"),
    "tier": _l("tier"), "resolution median h": _l("resolution median h"), "cause": _l("cause"),
    "resolved": _l("resolved"), "< 1 day": _l("< 1 day"), "1–3 days": _l("1–3 days"), "3–7 days": _l("3–7 days"),
    "1–4 weeks": _l("1–4 weeks"), "older": _l("older"), "< 1 h": _l("< 1 h"), "1–4 h": _l("1–4 h"),
    "4–8 h": _l("4–8 h"), "8–24 h": _l("8–24 h"), "longer": _l("longer"), "low rating": _l("low rating"),
    "chased past the SLA": _l("chased past the SLA"), "filed as a complaint": _l("filed as a complaint"),
    "(none)": _l("(none)"),
}


def word(text) -> str:
    if not isinstance(text, str):
        return text
    return str(WORDS[text]) if text in WORDS else i18n.label(text) if text in i18n.VALUES else text


# Days a page or export covers at most: each day not yet summed is summed (and kept) on the way,
# so a range of centuries, in a link or an image in a client's mail, would be hours of work.
MAX_DAYS = 2 * 366


def _range() -> tuple[dt.date, dt.date]:
    """The days asked for (from, to, both included), else the last 30; none after today, at most
    MAX_DAYS of them (the latest)."""
    today = utcnow().date()
    try:
        until = dt.date.fromisoformat(request.args.get("to") or today.isoformat())
        since = dt.date.fromisoformat(request.args.get("from") or (min(until, today) - dt.timedelta(
            days=DEFAULT_DAYS - 1)).isoformat())
    except ValueError:
        abort(400, "dates are YYYY-MM-DD")
    since, until = sorted((min(since, today), min(until, today)))
    return max(since, until - dt.timedelta(days=MAX_DAYS - 1)), until


def _tables(since: dt.date, until: dt.date, only: str = "") -> dict[str, reports.Table]:
    start = dt.datetime.combine(since, dt.time())
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time())
    return reports.dashboard(start, end, utcnow(), only)


@bp.get("/dashboard")
@login_required
def show():
    since, until = _range()
    tables = _tables(since, until)
    plotted = {"sla_by_week": (0, 3, "%", 100), "sla_by_policy": (0, 3, "%", 100), "first_response": (0, 1, "", None),
               "resolution": (0, 1, "", None), "backlog": (0, -1, "", None), "csat_by_week": (0, 4, "%", 100),
               "csat_distribution": (0, 1, "", None), "complaints": (0, 1, "", None)}
    pictures = {name: charts.bars(word(tables[name].title), [
        ("★" * r[at] if name == "csat_distribution" else word(r[at]), r[value]) for r in tables[name].rows],
        unit, top) for name, (at, value, unit, top) in plotted.items()}
    return render_template("web/dashboard.html", tables=tables, charts=pictures, since=since, until=until, word=word)


@bp.get("/dashboard/<name>.csv")
@login_required
def export(name: str):
    since, until = _range()
    table = _tables(since, until, name).get(name) or abort(404)  # that table's rows only
    out = io.StringIO()
    csv.writer(out).writerows([table.columns, *([_inert(cell) for cell in row] for row in table.rows)])
    filename = f"postdesk-{name}-{since}-{until}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",  # the BOM: Excel then reads UTF-8 (Chinese)
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _inert(cell):
    """A text cell a spreadsheet would run as a formula (a client's survey comment "=HYPERLINK(…)")
    kept as text: a leading apostrophe (OWASP's advice for CSV injection)."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell
