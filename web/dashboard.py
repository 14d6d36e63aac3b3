"""The dashboard: service levels, response times, backlog, satisfaction, agents, tiers and
complaints over a date range, each as a chart and a table, each table also as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, abort, render_template, request

from models import reports
from models.base import utcnow

from . import charts
from .auth import login_required

bp = Blueprint("dashboard", __name__)
DEFAULT_DAYS = 30


def _range() -> tuple[dt.date, dt.date]:
    """The days asked for (from, to, both included), else the last 30."""
    today = utcnow().date()
    try:
        until = dt.date.fromisoformat(request.args.get("to") or today.isoformat())
        since = dt.date.fromisoformat(request.args.get("from") or (until - dt.timedelta(days=DEFAULT_DAYS - 1))
                                      .isoformat())
    except ValueError:
        abort(400, "dates are YYYY-MM-DD")
    if since > until:
        since, until = until, since
    return since, until


def _tables(since: dt.date, until: dt.date) -> dict[str, reports.Table]:
    start = dt.datetime.combine(since, dt.time())
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time())
    return reports.dashboard(start, end, utcnow())


@bp.get("/dashboard")
@login_required
def show():
    since, until = _range()
    tables = _tables(since, until)
    pictures = {
        "sla_by_week": charts.bars("SLA compliance by week", [(r[0], r[3]) for r in tables["sla_by_week"].rows],
                                   "%", 100),
        "sla_by_policy": charts.bars("SLA compliance by policy", [(r[0], r[3]) for r in tables["sla_by_policy"].rows],
                                     "%", 100),
        "first_response": charts.bars("First response", [(r[0], r[1]) for r in tables["first_response"].rows]),
        "resolution": charts.bars("Resolution", [(r[0], r[1]) for r in tables["resolution"].rows]),
        "backlog": charts.bars("Backlog", [(r[0], r[-1]) for r in tables["backlog"].rows]),
        "csat_by_week": charts.bars("CSAT by week", [(r[0], r[4]) for r in tables["csat_by_week"].rows], "%", 100),
        "csat_distribution": charts.bars("Ratings", [("★" * r[0], r[1]) for r in tables["csat_distribution"].rows]),
        "complaints": charts.bars("Complaints", [(r[0], r[1]) for r in tables["complaints"].rows]),
    }
    return render_template("web/dashboard.html", tables=tables, charts=pictures, since=since, until=until)


@bp.get("/dashboard/<name>.csv")
@login_required
def export(name: str):
    since, until = _range()
    table = _tables(since, until).get(name) or abort(404)
    out = io.StringIO()
    csv.writer(out).writerows([table.columns, *table.rows])
    filename = f"postdesk-{name}-{since}-{until}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",  # the BOM: Excel then reads UTF-8 (Chinese)
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
