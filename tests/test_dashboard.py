"""The dashboard's figures from tickets, events and surveys made through the same actions as in
use, its charts, and its CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from actions import tickets as act
from mailer import pipeline, spool
from models import reports
from models.base import utcnow
from models.tables import Agent, Survey, Ticket
from tests.conftest import load_eml, signed_in
from web import create_app


@pytest.fixture
def app(settings, cast):
    for name in ("new_question.eml", "chinese_gbk_question.eml"):
        pipeline.process(settings, spool.store(load_eml(name), "smtp"))
    return create_app(settings, testing=True)


def test_percentile_is_the_nearest_rank():
    assert reports.percentile([], 0.5) is None
    assert reports.percentile([4, 1, 3, 2], 0.5) == 2 and reports.percentile(list(range(1, 11)), 0.9) == 9


def test_the_dashboard_counts_what_happened_and_exports_it(app, settings):
    agnes = Agent.get(Agent.email == "agnes@example.com")
    first = Ticket.get(Ticket.number == 1)
    act.assign(first, agnes, actor=agnes, via="web")
    act.reply(settings, first, agnes, "Your account is unlocked.", via="web")
    act.set_status(first, "resolved", settings=settings, actor=agnes, via="web")
    Survey.update(state="sent", sent_at=utcnow(), rating=5, comment="快速又专业 <b>", responded_at=utcnow()).execute()
    client = signed_in(app)
    page = client.get("/dashboard").get_data(as_text=True)
    assert page.count("<svg") >= 8 and "<script" not in page
    assert "快速又专业 &lt;b&gt;" in page  # a client's comment, escaped
    tables = reports.dashboard(utcnow() - dt.timedelta(days=1), utcnow() + dt.timedelta(days=1), utcnow())
    assert [r for r in tables["agents"].rows if r[0] == "agnes@example.com"][0][1:3] == [1, 1]
    assert tables["csat_distribution"].rows[0] == [5, 1]
    assert dict((r[0], r[-1]) for r in tables["backlog"].rows)["new"] == 1  # the Chinese question waits
    assert sum(r[1] for r in tables["first_response"].rows) == 1
    exported = client.get(f"/dashboard/agents.csv?from={utcnow():%Y-%m-%d}&to={utcnow():%Y-%m-%d}")
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "agent" and rows[1][:3] == ["agnes@example.com", "1", "1"]
    assert client.get("/dashboard/nothing.csv").status_code == 404
    assert client.get("/dashboard?from=yesterday").status_code == 400


def test_the_dashboard_needs_a_login(app):
    assert app.test_client().get("/dashboard").status_code == 302
    assert app.test_client().get("/dashboard/agents.csv").status_code == 302
