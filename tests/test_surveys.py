"""Satisfaction surveys and progress updates, end to end: the client writes to the real SMTP edge,
an agent resolves by mail, the follow-up job sends the survey through a real SMTP relay, and the
client answers over real HTTP (a werkzeug server) or by mail."""

from __future__ import annotations

import datetime as dt
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import time_machine

from mailer.smtp_edge import make_controller
from models import migrations
from models.base import utcnow
from models.tables import Customer, Event, InboundMail, Message, Outbox, Survey, Ticket
from postdesk import runtime
from tests.conftest import free_port, make_settings, text_of
from tests.test_browser import browser  # noqa: F401 (the fixture)
from tests.test_staff_end_to_end import ALICE, MAILBOXES, Desk
from workers.followups import send_followups

LATER = dt.timedelta(minutes=61)
POLICIES = [{"name": "default", "calendar": "24x7", "first_response_minutes": 60, "progress_update_hours": 4}]


@pytest.fixture
def desk(tmp_path, redis_server, relay_sink):
    from werkzeug.serving import make_server

    from web import create_app

    port = free_port()
    settings = make_settings(tmp_path, redis_server, mailboxes=MAILBOXES, policies=POLICIES,
                             outgoing={"relay_host": "127.0.0.1", "relay_port": relay_sink.port},
                             web={"public_url": f"http://127.0.0.1:{port}"})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    edge = make_controller(settings, host="127.0.0.1", port=free_port())
    edge.start()
    server = make_server("127.0.0.1", port, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Desk(settings, edge.port, relay_sink)
    finally:
        server.shutdown()
        edge.stop()
        runtime.close()


def resolved_and_surveyed(desk: Desk, text="I cannot log in since this morning.") -> tuple[Survey, object]:
    """Alice writes, Agnes answers and resolves by mail, the survey goes out an hour later."""
    desk.client_writes(text)
    desk.agent_answers(desk.agnes, "#resolve\nYour account is unlocked.")
    survey = Survey.get()
    assert survey.state == "scheduled"
    assert send_followups(now=utcnow() + dt.timedelta(minutes=30))["surveys"] == 0  # not yet
    send_followups(now=utcnow() + LATER)
    desk.settle()
    return Survey.get_by_id(survey.id), survey_mail(desk)


def survey_mail(desk: Desk):
    [(_, mail, _)] = [d for d in desk.sink.to(ALICE) if "How did we do" in str(d[1]["Subject"])]
    return mail


def links(mail) -> dict[int, str]:
    text = text_of(mail)
    found = re.findall(r"(\d) - [^\n]+\n\s+(http\S+)", text)
    return {int(score): url for score, url in found}


def fetch(url: str, data: dict | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_resolved_ticket_is_surveyed_once_after_the_delay_in_text_and_html(desk):
    survey, mail = resolved_and_surveyed(desk)
    assert (survey.state, survey.tier, survey.agent.email, survey.message_id) == (
        "sent", "standard", "agnes@example.com", mail["Message-ID"])
    assert mail["Subject"].startswith("[#1] ") and mail["From"].addresses[0].addr_spec == "support@example.com"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["In-Reply-To"] == "<alice-1@client.example>"
    assert mail["List-Unsubscribe"].startswith("<http://127.0.0.1:") and \
        mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sorted(links(mail)) == [1, 2, 3, 4, 5]
    html = mail.get_body(("html",)).get_content()
    assert all(url.replace("&", "&amp;") in html for url in links(mail).values()) and "Very satisfied" in html
    assert send_followups(now=utcnow() + 3 * LATER)["surveys"] == 0  # never twice for one resolution
    desk.settle()
    assert len([d for d in desk.sink.to(ALICE) if "How did we do" in str(d[1]["Subject"])]) == 1


def test_a_ticket_reopened_before_the_delay_gets_no_survey(desk):
    desk.client_writes()
    desk.agent_answers(desk.agnes, "#resolve\nDone.")
    desk.client_writes("Still broken, sorry.", message_id="<alice-2@client.example>",
                       headers="In-Reply-To: <alice-1@client.example>\r\n")
    send_followups(now=utcnow() + LATER)
    desk.settle()
    assert Survey.get().state == "cancelled" and Ticket.get().status == "open"
    assert not [d for d in desk.sink.to(ALICE) if "How did we do" in str(d[1]["Subject"])]


def test_opening_every_link_casts_no_vote_and_the_pages_post_does(desk):
    survey, mail = resolved_and_surveyed(desk)
    for url in links(mail).values():  # what a mail security scanner does
        status, page = fetch(url)
        assert status == 200 and 'method="post"' in page
    assert Survey.get_by_id(survey.id).rating is None
    status, page = fetch(links(mail)[4], data={})  # the page's own POST (JavaScript, or its button)
    assert status == 200 and "Thank you for your answer" in page and "Satisfied" in page
    assert Survey.get_by_id(survey.id).rating == 4
    comment_url = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    fetch(urllib.parse.urljoin(links(mail)[4], comment_url), data={"comment": "Quick <b>and</b> kind", "rating": "5"})
    survey = Survey.get_by_id(survey.id)
    assert (survey.rating, survey.comment, survey.responded_via) == (5, "Quick <b>and</b> kind", "web")
    status, page = fetch(links(mail)[3], data={})  # a later click changes it, within the window
    assert Survey.get_by_id(survey.id).rating == 3 and "Quick &lt;b&gt;and&lt;/b&gt; kind" in page
    ratings = [e.new for e in Event.select().where(Event.action == "survey_rating").order_by(Event.id)]
    assert ratings == ["4", "5", "3"]


def test_tampered_expired_and_closed_links_change_nothing(desk):
    survey, mail = resolved_and_surveyed(desk)
    good = links(mail)[5]
    tampered = [good[:-1] + ("0" if good[-1] != "0" else "1"), good.replace("r5-", "r1-"),
                re.sub(r"/s([0-9a-f]+)r", lambda m: f"/s{int(m.group(1), 16) + 1:x}r", good)]
    for url in tampered:
        status, page = fetch(url, data={})
        assert status == 404 and "not valid" in page
    assert Survey.get_by_id(survey.id).rating is None
    Survey.update(sent_at=utcnow() - dt.timedelta(days=31)).execute()
    status, page = fetch(good, data={})
    assert status == 410 and "closed" in page and Survey.get_by_id(survey.id).rating is None
    Survey.update(sent_at=utcnow(), rating=4, responded_at=utcnow() - dt.timedelta(hours=73)).execute()
    status, page = fetch(good, data={})  # past the window for changing it
    assert status == 404 and Survey.get_by_id(survey.id).rating == 4


@pytest.mark.parametrize(("reply", "rating", "comment"), [
    ("4 - fast and helpful", 4, "fast and helpful"),
    ("非常满意，谢谢你们！", 5, "谢谢你们！"),
    ("满意", 4, ""),
    ("bad", 2, ""),
])
def test_a_reply_to_the_survey_is_its_answer_not_a_message(desk, reply, rating, comment):
    survey, mail = resolved_and_surveyed(desk)
    messages = Message.select().count()
    desk.client_writes(f"{reply}\n\nOn Wed, Example Support wrote:\n> How satisfied are you?",
                       subject=f"Re: {mail['Subject']}", message_id="<alice-survey@client.example>",
                       headers=f"In-Reply-To: {mail['Message-ID']}\r\nReferences: {mail['Message-ID']}\r\n")
    survey = Survey.get_by_id(survey.id)
    assert (survey.rating, survey.comment, survey.responded_via) == (rating, comment, "email")
    assert Message.select().count() == messages
    assert InboundMail.get(InboundMail.message_id == "<alice-survey@client.example>").outcome == "survey_response"
    assert Ticket.get().status == ("open" if rating <= 2 else "resolved")  # a low one reopens


@pytest.mark.parametrize(("reply", "told"), [
    ("4 - but the printer still fails", True), ("满意，但是打印机还是不能用", True), ("非常满意，谢谢你们！", False),
])
def test_a_survey_comment_beyond_thanks_is_mailed_to_the_agents_whatever_the_rating(desk, reply, told):
    survey, mail = resolved_and_surveyed(desk)
    desk.client_writes(f"{reply}\n\nOn Wed, Example Support wrote:\n> How satisfied are you?",
                       subject=f"Re: {mail['Subject']}", message_id="<alice-comment@client.example>",
                       headers=f"In-Reply-To: {mail['Message-ID']}\r\n")
    desk.settle()
    assert Survey.get_by_id(survey.id).rating >= 3
    comments = [m for _, m, _ in desk.sink.to("agnes@example.com") if "Satisfaction comment" in str(m["Subject"])]
    assert len(comments) == (1 if told else 0)
    if told:
        assert reply.split("，")[-1].split("but ")[-1] in text_of(comments[0])


def test_an_unclear_reply_to_the_survey_is_an_ordinary_message(desk):
    survey, mail = resolved_and_surveyed(desk)
    desk.client_writes("Thanks, but how do I export my invoices?", subject=f"Re: {mail['Subject']}",
                       message_id="<alice-q@client.example>", headers=f"In-Reply-To: {mail['Message-ID']}\r\n")
    assert Survey.get_by_id(survey.id).rating is None
    assert Message.get(Message.message_id == "<alice-q@client.example>").ticket.number == 1
    assert Ticket.get().status == "open"


def test_a_low_rating_alerts_the_assignee_and_the_team_and_reopens_the_ticket(desk):
    survey, mail = resolved_and_surveyed(desk)
    fetch(links(mail)[1], data={})
    desk.settle()
    alerts = [d for d in desk.sink.to("agnes@example.com") if "Low satisfaction rating: 1 of 5" in str(d[1]["Subject"])]
    assert len(alerts) == 1 and len([d for d in desk.sink.to("bob@example.com") if "Low satisfaction" in
                                     str(d[1]["Subject"])]) == 1
    assert Ticket.get().status == "open"
    assert any("reopened" in text_of(m) for _, m, _ in desk.sink.to(ALICE))
    fetch(links(mail)[2], data={})  # still low: no second alert
    desk.settle()
    assert len([d for d in desk.sink.to("agnes@example.com") if "Low satisfaction" in str(d[1]["Subject"])]) == 1


def test_a_survey_link_replayed_or_flipped_mails_the_staff_only_what_is_new(desk):
    """Anyone holding the link (the client, whoever they forwarded it to) can post it again and
    again: the same answer changes nothing, a rating flipped low again alerts no one twice, and
    the survey takes a bounded number of changes."""
    survey, mail = resolved_and_surveyed(desk)

    def staff_mail(words):
        return len([d for d in desk.sink.to("agnes@example.com") if words in str(d[1]["Subject"])])

    status, page = fetch(links(mail)[1], data={"comment": "The export still fails."})
    form = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    comment_url = urllib.parse.urljoin(links(mail)[1], form)
    for _ in range(3):  # a reload, a replay
        fetch(comment_url, data={"comment": "The export still fails."})
    fetch(links(mail)[5], data={})
    fetch(links(mail)[1], data={})
    desk.settle()
    assert staff_mail("Low satisfaction") == 1
    assert Event.select().where(Event.action == "survey_comment").count() == 1
    fetch(comment_url, data={"comment": "And the invoice is wrong too."})  # something new, on a low rating
    desk.settle()
    assert staff_mail("Low satisfaction") + staff_mail("Satisfaction comment") == 2
    for n in range(20):
        fetch(comment_url, data={"comment": f"again {n}"})
    assert Event.select().where(Event.action.in_(("survey_rating", "survey_comment"))).count() <= 10


def test_a_low_rating_of_a_ticket_merged_since_goes_to_the_ticket_it_was_merged_into(desk):
    from actions import tickets as staff

    survey, mail = resolved_and_surveyed(desk)
    desk.client_writes("Another question.", subject="Printer", message_id="<alice-m@client.example>")
    first, second = Ticket.get(Ticket.number == 1), Ticket.get(Ticket.number == 2)
    staff.merge(first, second, settings=desk.settings, actor=desk.agnes, via="web")
    fetch(links(mail)[1], data={})
    desk.settle()
    assert Ticket.get(Ticket.number == 1).status == "closed"  # the merged one stays as it was
    assert Event.select().where((Event.ticket == second) & (Event.action == "complaint")).exists()
    assert not any("#1" in str(m["Subject"]) and "reopened" in text_of(m) for _, m, _ in desk.sink.to(ALICE))


def test_a_resolved_ticket_nobody_answered_closes_after_a_week_without_a_mail(desk):
    """Zendesk closes solved tickets by itself; a reply after that opens the ticket again within
    the reopen window, and a follow-up beyond it."""
    resolved_and_surveyed(desk)
    before = Outbox.select().count()
    send_followups(now=utcnow() + dt.timedelta(days=6))
    assert Ticket.get().status == "resolved"
    send_followups(now=utcnow() + dt.timedelta(days=8))
    ticket = Ticket.get()
    assert ticket.status == "closed" and ticket.closed_at is not None
    assert Outbox.select().count() == before  # no "closed" mail to the client


def test_the_unsubscribe_page_speaks_the_language_of_the_survey_it_came_in(desk):
    survey, mail = resolved_and_surveyed(desk)
    Survey.update(language="zh").where(Survey.id == survey.id).execute()  # a survey of the Chinese mailbox
    Customer.update(language="").where(Customer.email == ALICE).execute()
    status, page = fetch(mail["List-Unsubscribe"].strip("<>"))
    assert status == 200 and "退订" in page


def test_one_click_unsubscribe_stops_surveys_and_the_cool_down_skips_a_second_one(desk):
    survey, mail = resolved_and_surveyed(desk)
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert fetch(unsubscribe)[0] == 200 and Customer.get(Customer.email == ALICE).unsubscribed_at is None
    status, page = fetch(unsubscribe, data={"List-Unsubscribe": "One-Click"})  # RFC 8058, from the provider
    assert status == 200 and Customer.get(Customer.email == ALICE).unsubscribed_at is not None
    desk.client_writes("Another question.", subject="Printer", message_id="<alice-3@client.example>")
    second = Ticket.get(Ticket.number == 2)
    Survey.update(sent_at=utcnow() - dt.timedelta(days=30)).execute()  # out of the cool-down
    desk.agent_answers(desk.agnes, "#resolve\nDone.")
    send_followups(now=utcnow() + LATER)
    later = Survey.get(Survey.ticket == second)
    assert later.state == "skipped"
    assert Event.select().where((Event.ticket == second) & (Event.action == "survey_suppressed")).exists()


def test_a_client_surveyed_recently_is_not_asked_again(desk):
    resolved_and_surveyed(desk)
    desk.client_writes("Another question.", subject="Printer", message_id="<alice-3@client.example>")
    desk.agent_answers(desk.agnes, "#resolve\nDone.")
    send_followups(now=utcnow() + LATER)
    second = Survey.get(Survey.ticket == Ticket.get(Ticket.number == 2))
    assert second.state == "skipped" and "within 14 days" in second.reason


def test_a_quiet_open_ticket_gets_progress_updates_and_a_waiting_one_none(desk):
    desk.client_writes()
    desk.client_writes("Printer is broken.", subject="Printer", message_id="<alice-p@client.example>")
    desk.agent_answers(desk.agnes, "#pending\nWhich model is it?")
    start = utcnow()
    with time_machine.travel(start.replace(tzinfo=dt.UTC) + dt.timedelta(hours=3)):
        assert send_followups()["progress_updates"] == 0
    with time_machine.travel(start.replace(tzinfo=dt.UTC) + dt.timedelta(hours=5)):
        assert send_followups()["progress_updates"] == 1  # ticket 1 only: ticket 2 waits on the client
        assert send_followups()["progress_updates"] == 0  # the update was a contact: the next waits 4 hours
        desk.settle()
    [(_, mail, _)] = [d for d in desk.sink.to(ALICE) if "still working" in text_of(d[1])]
    assert mail["Subject"] == "[#1] Cannot log in" and mail["List-Unsubscribe"]
    assert "still working" in mail.get_body(("html",)).get_content()
    with time_machine.travel(start.replace(tzinfo=dt.UTC) + dt.timedelta(hours=9, minutes=1)):
        assert send_followups()["progress_updates"] == 1


SHOTS = Path(__file__).resolve().parent.parent / "test-output"


def test_a_browser_running_scripts_casts_no_vote_and_the_button_does_in_english_and_chinese(desk, browser):  # noqa: F811
    survey, mail = resolved_and_surveyed(desk)
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page()
    page.set_content(mail.get_body(("html",)).get_content())  # the mail as a client's HTML view shows it
    page.screenshot(path=str(SHOTS / "survey-mail-en.png"), full_page=True)
    for score in (5, 4, 3, 2, 1):  # a sandboxing scanner opens every link, scripts running
        page.goto(links(mail)[score])
        page.wait_for_load_state("networkidle")
    assert Survey.get_by_id(survey.id).rating is None
    page.goto(links(mail)[4])  # the client's click: the choice, a box for a comment and the button
    page.fill("textarea[name=comment]", "快速又专业 – quick and kind")
    page.screenshot(path=str(SHOTS / "survey-confirm-en.png"), full_page=True)
    page.get_by_role("button", name="Send my rating").click()
    page.wait_for_selector("text=Thank you for your answer")
    survey = Survey.get_by_id(survey.id)
    assert (survey.rating, survey.comment) == (4, "快速又专业 – quick and kind")
    page.screenshot(path=str(SHOTS / "survey-thanks-en.png"), full_page=True)

    Survey.update(language="zh").execute()  # the same pages for a client who writes Chinese
    still = browser.new_context(java_script_enabled=False).new_page()
    still.goto(links(mail)[2])
    assert still.get_by_role("button", name="提交评价").is_visible()
    still.screenshot(path=str(SHOTS / "survey-confirm-zh.png"), full_page=True)
    assert Survey.get_by_id(survey.id).rating == 4
    still.get_by_role("button", name="提交评价").click()  # the box left empty: the comment stays
    still.wait_for_selector("text=感谢您的评价")
    still.screenshot(path=str(SHOTS / "survey-thanks-zh.png"), full_page=True)
    survey = Survey.get_by_id(survey.id)
    assert (survey.rating, survey.comment) == (2, "快速又专业 – quick and kind")


def test_the_report_gives_response_rate_average_distribution_and_csat_per_group(desk, capsys):
    from models.tables import Agent
    from postdesk import cli

    desk.client_writes()
    ticket = Ticket.get()
    agnes, bob = Agent.get(Agent.email == "agnes@example.com"), Agent.get(Agent.email == "bob@example.com")
    answers = [(agnes, "vip", 5), (agnes, "vip", 4), (agnes, "standard", 2), (agnes, "standard", None),
               (bob, "standard", 3), (bob, "standard", None)]
    for i, (agent, tier, rating) in enumerate(answers):
        Survey.create(ticket=ticket, resolved_at=utcnow() - dt.timedelta(minutes=i), customer=ticket.customer,
                      mailbox=1, agent=agent, tier=tier, state="sent", sent_at=utcnow(), scheduled_for=utcnow(),
                      rating=rating)
    Survey.create(ticket=ticket, resolved_at=utcnow() - dt.timedelta(days=9), customer=ticket.customer, mailbox=1,
                  tier="vip", state="sent", sent_at=utcnow() - dt.timedelta(days=9), scheduled_for=utcnow(), rating=1)
    config = desk.settings.source
    assert cli.main(["--config", config, "surveys", "report", "--by", "agent", "--csv",
                     "--since", (utcnow() - dt.timedelta(days=1)).strftime("%Y-%m-%d")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["group,sent,answered,response_rate,average,csat,1,2,3,4,5",
                     "agnes@example.com,4,3,75.0%,3.67,66.7%,0,1,0,1,1",
                     "bob@example.com,2,1,50.0%,3.00,0.0%,0,0,1,0,0"]
    assert cli.main(["--config", config, "surveys", "report", "--by", "tier"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^standard\s+4\s+2\s+50\.0%\s+2\.50\s+0\.0%\s+0\s+1\s+1\s+0\s+0$", table, re.M)
    assert re.search(r"^vip\s+3\s+3\s+100\.0%\s+3\.33\s+66\.7%\s+1\s+0\s+0\s+1\s+1$", table, re.M)


ARF = """From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
To: support@example.com
Subject: FW: [#1] How did we do?
Message-ID: <arf-1@arf.mail.yahoo.com>
Date: Wed, 02 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 192.0.2.1.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <support@example.com>
Original-Rcpt-To: <alice@client.example>
Arrival-Date: Wed, 02 Dec 2026 09:59:00 +0000

--arf
Content-Type: message/rfc822

{original}
--arf--
"""


def test_a_complaint_report_stops_automatic_mail_but_not_answers(desk):
    survey, mail = resolved_and_surveyed(desk)
    report = ARF.format(original=mail.as_string()).replace("\n", "\r\n").encode()
    desk.send(report, ["support@example.com"], "")
    alice = Customer.get(Customer.email == ALICE)
    assert alice.bounce_state == "complained" and Ticket.select().count() == 1
    assert Event.select().where(Event.action == "complaint_report").exists()
    desk.client_writes("A new question.", subject="Printer", message_id="<alice-9@client.example>")
    second = Ticket.get(Ticket.number == 2)
    assert Event.select().where((Event.ticket == second) & (Event.action == "acknowledgement_suppressed")).exists()
    assert Customer.get(Customer.email == ALICE).bounce_state == "complained"  # writing to us does not lift it
    desk.agent_answers(desk.agnes, "Which printer is it?")
    assert [text_of(m).split("\n")[0] for _, m, _ in desk.to_client()][-1] == "Which printer is it?"


def test_a_survey_failing_half_way_is_rolled_back_stays_due_and_holds_up_no_other(desk, monkeypatch):
    from actions import notices

    desk.client_writes()
    desk.agent_answers(desk.agnes, "#resolve\nDone.")
    desk.client_writes("Another question.", sender="Bob <bob@client.example>", subject="Printer",
                       message_id="<bob-1@client.example>")
    desk.agent_answers(desk.agnes, "#resolve\nDone too.")
    real = notices.mail_client

    def broken_for_alice(settings, ticket, *args, **kwargs):
        rows = real(settings, ticket, *args, **kwargs)  # written, then the crash: all of it rolls back
        if ticket.customer.email == ALICE:
            raise RuntimeError("the template server fell over")
        return rows

    monkeypatch.setattr(notices, "mail_client", broken_for_alice)
    assert send_followups(now=utcnow() + LATER)["surveys"] == 1  # Bob's went
    alice = Survey.get(Survey.ticket == Ticket.get(Ticket.number == 1))
    assert alice.state == "scheduled" and not alice.message_id
    assert not Outbox.select().where((Outbox.kind == "survey") & (Outbox.rcpt_to == ALICE)).exists()
    monkeypatch.setattr(notices, "mail_client", real)
    assert send_followups(now=utcnow() + LATER)["surveys"] == 1  # the next run sends it, once
    assert Survey.get_by_id(alice.id).state == "sent"
