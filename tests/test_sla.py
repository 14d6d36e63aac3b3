"""SLA clocks through real mail and real staff replies, the time moved by time-machine: met by
the first reply and not by a note, paused while pending, restarted by the client, recomputed on
a priority or tier change; warnings and escalation levels once each, whatever the job does."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import subprocess
import sys
import threading

import pytest
import time_machine

from actions import customers as customer_actions
from actions import sla
from actions import tickets as act
from mailer import tokens
from models import agents, migrations
from models.tables import Customer, Event, Outbox, SlaMark, Ticket
from postdesk import runtime
from tests.conftest import PASSWORD, ingest, make_settings, text_of
from workers.sla import check_slas

T0 = dt.datetime(2026, 12, 7, 9, 0)  # a Monday, naive UTC as stored
ESCALATIONS = [{"after_minutes": 0, "notify": ["assignee", "team"], "priority": "high"},
               {"after_minutes": 30, "notify": ["team"], "assign": "bob@example.com"}]
POLICIES = [
    {"name": "urgent", "priorities": ["urgent"], "calendar": "24x7", "first_response_minutes": 15,
     "next_response_minutes": 15, "resolution_minutes": 60},
    {"name": "complaint", "categories": ["complaint"], "calendar": "24x7", "first_response_minutes": 20,
     "next_response_minutes": 20, "resolution_minutes": 90},
    {"name": "vip", "tiers": ["vip"], "calendar": "24x7", "first_response_minutes": 30,
     "next_response_minutes": 20, "resolution_minutes": 120, "warning_minutes": 5},
    {"name": "office", "mailboxes": ["zh@example.cn"], "calendar": "office", "first_response_minutes": 60,
     "next_response_minutes": 60, "resolution_minutes": 480},
    {"name": "default", "calendar": "24x7", "first_response_minutes": 60, "next_response_minutes": 30,
     "resolution_minutes": 240, "warning_minutes": 10, "escalations": ESCALATIONS},
]
CALENDARS = [{"name": "24x7", "always_open": True},
             {"name": "office", "timezone": "Asia/Shanghai", "monday": ["09:00-12:00", "13:00-18:00"],
              "tuesday": ["09:00-12:00", "13:00-18:00"], "wednesday": ["09:00-12:00", "13:00-18:00"],
              "thursday": ["09:00-12:00", "13:00-18:00"], "friday": ["09:00-12:00", "13:00-18:00"],
              "country": "CN"}]


@pytest.fixture
def clock():
    with time_machine.travel(T0.replace(tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def desk(tmp_path, redis_server, clock):
    settings = make_settings(tmp_path, redis_server, policies=POLICIES, calendars=CALENDARS,
                             customers={"rules": [{"tier": "vip", "domains": ["bigclient.com"]}]},
                             tickets={"category_rules": [{"category": "complaint", "keywords": ["投诉", "complaint"]}]})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    staff = {name: agents.create_agent(f"{name}@example.com", PASSWORD, name=name.title()) for name in ("agnes", "bob")}
    yield settings, staff
    runtime.close()


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def client_writes(settings, n: int = 1, sender="Alice <alice@client.example>", subject="Cannot log in",
                  to="support@example.com", text="It still does not work."):
    """The client's mail: the first (n=1) opens a ticket, later ones answer ticket #1."""
    if n > 1:
        subject = f"Re: [#1] {subject}"
    raw = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <c-{n}-{subject.encode().hex()}@x>\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()
    return ingest(settings, raw, rcpt=(to,))


def agent_answers(settings, agent, ticket, text: str, n: int = 1):
    """The agent's answer by mail, to their signed reply address (as to a notice)."""
    token = tokens.agent_token(settings.signing_key, agent.id, ticket.id)
    raw = (f"From: {agent.name} <{agent.email}>\r\nTo: support+{token}@example.com\r\n"
           f"Subject: Re: [#{ticket.number}]\r\n"
           f"Message-ID: <a-{agent.id}-{n}@example.com>\r\n\r\n{text}\r\n").encode()
    ctx = ingest(settings, raw, rcpt=(f"support+{token}@example.com",))
    assert ctx.agent is not None
    return ctx


def clocks(ticket_id: int = 1, now=None):
    settings = runtime.settings()
    return sla.clocks_of(settings, Ticket.get_by_id(ticket_id), now or dt.datetime.now(dt.UTC).replace(tzinfo=None))[2]


def sla_events(ticket_id: int = 1) -> list[str]:
    return [e.action for e in Event.select().where((Event.ticket == ticket_id) & Event.action.startswith("sla_"))
            .order_by(Event.id)]



def test_the_clocks_start_when_the_mail_arrived_not_when_a_worker_got_to_it(desk, clock):
    """A backlog, a retry, a replay of quarantined mail: the client waited from the moment their
    mail reached us, and their ticket's clocks say so (the default policy: 60 minutes)."""
    from mailer import pipeline, spool

    settings, _ = desk
    raw = (b"From: alice@client.example\r\nTo: support@example.com\r\nSubject: Cannot log in\r\n"
           b"Message-ID: <late-1@client.example>\r\n\r\nHelp.\r\n")
    inbound_id = spool.store(raw, "smtp", "alice@client.example", ("support@example.com",))
    clock.move_to(at(240).replace(tzinfo=dt.UTC))  # four hours later, the worker takes it
    ticket = Ticket.get_by_id(pipeline.process(settings, inbound_id).ticket.id)
    assert ticket.created_at == T0 and ticket.first_response_due == at(60)
    assert ticket.sla_state == "breached"
    client_writes(settings, 2)  # a reply stored now, taken at once: stamped now
    assert Event.get(Event.action == "customer_replied").created_at == at(240)


def test_a_reply_taken_late_after_an_agents_answer_still_waits_for_an_answer(desk, clock):
    """The client's follow-up reached us before the agent answered, a worker took it after: the
    agent's answer did not answer it, so the next-response clock runs, and the ticket's
    updated_at does not go back."""
    from mailer import pipeline, spool

    settings, staff = desk
    client_writes(settings, 1)
    ticket = Ticket.get()
    clock.move_to(at(10).replace(tzinfo=dt.UTC))
    raw = (b"From: Alice <alice@client.example>\r\nTo: support@example.com\r\nSubject: Re: [#1] Cannot log in\r\n"
           b"Message-ID: <late-follow-up@client.example>\r\n\r\nAlso the export fails.\r\n")
    inbound_id = spool.store(raw, "smtp", "alice@client.example", ("support@example.com",))
    clock.move_to(at(20).replace(tzinfo=dt.UTC))
    agent_answers(settings, staff["agnes"], ticket, "Fixed the login.")
    clock.move_to(at(30).replace(tzinfo=dt.UTC))
    assert pipeline.process(settings, inbound_id).outcome == "added"
    assert clocks(ticket.id, at(30))["next_response"].state == "running"
    assert Ticket.get_by_id(ticket.id).updated_at == at(30)

def test_an_answer_after_the_due_time_is_a_breach_though_no_escalation_ran(desk, clock):
    """Answered a minute late, before the SLA job looked again: the reports count a breach, as
    Zendesk counts a target achieved late; a client chasing past the due time is a complaint
    though the job has not marked the clock breached yet."""
    settings, staff = desk
    client_writes(settings, 1)
    ticket = Ticket.get()
    clock.move_to(at(75).replace(tzinfo=dt.UTC))  # 15 minutes past the 60-minute due time
    client_writes(settings, 2, text="Anyone there?")
    assert Event.select().where(Event.action == "complaint").count() == 1
    agent_answers(settings, staff["agnes"], ticket, "Sorry, fixed now.")
    assert SlaMark.select().where((SlaMark.ticket == ticket) & SlaMark.mark.startswith("breach")).count() == 1
    assert sla.was_breached(Ticket.get_by_id(ticket.id))
    check_slas()  # the job, later: the clock is met, nothing left to escalate
    assert not Outbox.select().where(Outbox.kind == "sla_alert").exists()



def test_a_clock_met_late_after_its_escalation_ran_is_one_breach(desk, clock):
    settings, staff = desk
    client_writes(settings, 1)
    ticket = Ticket.get()
    clock.move_to(at(61).replace(tzinfo=dt.UTC))
    check_slas()  # level 0 runs
    clock.move_to(at(62).replace(tzinfo=dt.UTC))
    agent_answers(settings, staff["agnes"], ticket, "Sorry for the wait.")
    breaches = SlaMark.select().where((SlaMark.ticket == ticket) & (SlaMark.clock == "first_response")
                                      & SlaMark.mark.startswith("breach"))
    assert [m.mark for m in breaches] == ["breach-0"]


def test_an_escalation_naming_an_agents_other_address_reaches_them(desk, clock):
    settings, staff = desk
    agents.add_address(staff["bob"], "b.chen@example.com")
    client_writes(settings, 1)
    ticket = Ticket.get()
    clock_now = sla.clocks_of(settings, ticket, at(61))[2]["first_response"]
    rows = sla._alert(settings, ticket, ["B.Chen@example.com", "nobody@example.com"], "breach", clock_now)
    assert [row["rcpt_to"] if isinstance(row, dict) else row.rcpt_to for row in rows] == ["bob@example.com"]


def test_a_target_changed_in_the_configuration_reaches_the_open_tickets(desk, clock):
    """config.toml shortens the default policy's first response from 60 to 30 minutes, and the
    service restarts: the SLA job brings the open ticket to it, not its next mail."""
    import dataclasses

    settings, _ = desk
    client_writes(settings, 1)
    check_slas()  # notes what the tickets follow
    assert Ticket.get().first_response_due == at(60)
    shorter = dataclasses.replace(settings, policies=tuple(
        dataclasses.replace(p, first_response_minutes=30) if p.name == "default" else p for p in settings.policies))
    assert sla.follow_configuration(shorter) == 1
    assert Ticket.get().first_response_due == at(30)
    assert sla.follow_configuration(shorter) == 0  # done: nothing more to do until the next change


def test_the_first_response_is_met_by_the_first_public_reply_not_by_a_note(desk, clock):
    settings, staff = desk
    client_writes(settings)
    ticket = Ticket.get()
    assert (ticket.sla_policy, ticket.first_response_due, ticket.resolution_due) == ("default", at(60), at(240))
    [ack] = Outbox.select().where(Outbox.kind == "acknowledgement")
    assert "You can expect our first answer by Monday 7 December 2026, 10:00 (UTC)" in bytes(ack.raw).decode()
    clock.shift(dt.timedelta(minutes=10))
    act.note(Ticket.get(), staff["agnes"], "Looking into it.", via="web")
    assert clocks()["first_response"].state == "running"
    clock.shift(dt.timedelta(minutes=10))
    agent_answers(settings, staff["agnes"], Ticket.get(), "Fixed, please try again.")
    first = clocks()["first_response"]
    assert (first.state, first.met_at, first.used, first.late) == ("met", at(20), 20, False)
    assert Ticket.get().first_response_due is None and Ticket.get().resolution_due == at(240)
    assert sla_events() == ["sla_started", "sla_started", "sla_met"]  # first response and resolution, then met


def test_pending_pauses_the_clocks_and_resuming_adds_the_paused_time_back(desk, clock):
    settings, staff = desk
    client_writes(settings)
    clock.shift(dt.timedelta(minutes=20))
    act.set_status(Ticket.get(), "pending", settings=settings, actor=staff["agnes"], via="web")
    assert (Ticket.get().first_response_due, Ticket.get().sla_state) == (None, "paused")
    clock.shift(dt.timedelta(minutes=100))  # two hours waiting on the client count for nothing
    assert clocks()["first_response"].used == 20
    client_writes(settings, 2)  # the client answers: open again
    ticket = Ticket.get()
    assert ticket.status == "open"
    assert (ticket.first_response_due, ticket.resolution_due) == (at(120 + 40), at(120 + 220))
    assert sla_events()[-4:] == ["sla_paused", "sla_paused", "sla_resumed", "sla_resumed"]


def test_the_next_response_runs_from_the_oldest_unanswered_client_message(desk, clock):
    settings, staff = desk
    client_writes(settings)
    clock.shift(dt.timedelta(minutes=10))
    agent_answers(settings, staff["agnes"], Ticket.get(), "Try again?", n=1)
    assert clocks()["next_response"].state == ""  # nothing waits for an answer
    clock.shift(dt.timedelta(minutes=10))
    client_writes(settings, 2)
    assert Ticket.get().next_response_due == at(20 + 30)
    clock.shift(dt.timedelta(minutes=10))
    client_writes(settings, 3)  # a second message does not move the due time
    assert Ticket.get().next_response_due == at(50)
    clock.shift(dt.timedelta(minutes=10))
    agent_answers(settings, staff["bob"], Ticket.get(), "Done.", n=2)
    assert clocks()["next_response"].state == "met" and Ticket.get().next_response_due is None
    clock.shift(dt.timedelta(minutes=20))
    client_writes(settings, 4)
    assert Ticket.get().next_response_due == at(60 + 30)  # a new run for the new message


def test_a_breach_runs_the_warning_and_each_escalation_level_once(desk, clock):
    settings, staff = desk
    client_writes(settings)
    assert Ticket.get().sla_next_check == at(50)  # the warning, 10 minutes before the due time
    clock.move_to((at(49)).replace(tzinfo=dt.UTC))
    assert check_slas()["alerts"] == 0
    clock.move_to(at(50).replace(tzinfo=dt.UTC))
    check_slas()
    check_slas()  # again in the same minute: nothing more
    warnings = Outbox.select().where(Outbox.kind == "sla_warning")
    assert sorted(w.rcpt_to for w in warnings) == ["agnes@example.com", "bob@example.com"]  # no assignee: the team
    clock.move_to(at(60).replace(tzinfo=dt.UTC))
    check_slas()
    ticket = Ticket.get()
    assert (ticket.priority, ticket.escalation_level, ticket.sla_state) == ("high", 1, "breached")
    clock.move_to(at(90).replace(tzinfo=dt.UTC))
    threads = [threading.Thread(target=check_slas) for _ in range(2)]  # two jobs at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_slas()
    ticket = Ticket.get()
    assert (ticket.assignee.email, ticket.escalation_level) == ("bob@example.com", 2)
    marks = sorted((m.clock, m.mark) for m in SlaMark.select())
    assert marks == [("first_response", "breach-0"), ("first_response", "breach-1"), ("first_response", "warning")]
    assert [json.loads(e.new)["level"] for e in Event.select().where(Event.action == "sla_breach")] == [1, 2]
    assert Outbox.select().where(Outbox.kind == "sla_breach").count() == 2 + 2  # level 1: team (no assignee yet)


def test_down_for_an_hour_the_job_catches_up_in_due_order(desk, clock):
    settings, staff = desk
    client_writes(settings)
    clock.shift(dt.timedelta(minutes=5))
    client_writes(settings, 1, sender="Dave <dave@other.example>", subject="Invoice")
    clock.move_to(at(160).replace(tzinfo=dt.UTC))  # nothing ran since the tickets came in
    check_slas()
    done = [(e.ticket_id, e.action, json.loads(e.new).get("level"), json.loads(e.new)["at"])
            for e in Event.select().where(Event.action.in_(("sla_warning", "sla_breach"))).order_by(Event.id)]
    for ticket_id in (1, 2):
        mine = [(action, level) for t, action, level, _ in done if t == ticket_id]
        assert mine == [("sla_breach", 1), ("sla_breach", 2)]  # "due soon" for a past due time is not sent
        times = [when for t, _, _, when in done if t == ticket_id]
        assert times == sorted(times)
    assert Outbox.select().where(Outbox.kind == "sla_warning").count() == 0
    assert SlaMark.select().where(SlaMark.mark == "warning").count() == 2  # but marked done
    assert check_slas()["alerts"] == 0


def test_a_priority_or_tier_change_recomputes_the_due_times_from_the_history(desk, clock):
    settings, staff = desk
    client_writes(settings)
    clock.shift(dt.timedelta(minutes=10))
    customer_actions.set_tier(Ticket.get().customer, "vip", settings=settings, actor=staff["agnes"], via="web",
                              ticket=Ticket.get())
    assert (Ticket.get().sla_policy, Ticket.get().first_response_due) == ("vip", at(30))  # counted from creation
    act.set_priority(Ticket.get(), "urgent", settings=settings, actor=staff["agnes"], via="web")
    assert (Ticket.get().sla_policy, Ticket.get().first_response_due) == ("urgent", at(15))
    assert [json.loads(e.new) for e in Event.select().where(Event.action == "sla_policy")] == ["vip", "urgent"]


def test_tier_rules_and_category_rules_choose_the_policy(desk):
    settings, _ = desk
    client_writes(settings, sender="Carl <carl@sales.bigclient.com>", subject="Quote")
    assert (Customer.get(Customer.email == "carl@sales.bigclient.com").tier, Ticket.get().sla_policy) == ("vip", "vip")
    client_writes(settings, sender="Erin <erin@client.example>", subject="我要投诉", text="服务太差了")
    complaint = Ticket.get(Ticket.number == 2)
    assert (complaint.category, complaint.sla_policy) == ("complaint", "complaint")
    assert complaint.first_response_due == at(20)


def test_business_hours_a_lunch_break_and_chinese_acknowledgement(desk, clock):
    settings, _ = desk
    clock.move_to(dt.datetime(2026, 12, 7, 3, 30, tzinfo=dt.UTC))  # Monday 11:30 in Shanghai
    client_writes(settings, to="zh@example.cn", subject="无法登录")
    ticket = Ticket.get()
    # 30 minutes before lunch, the lunch hour does not count, 30 minutes after: 13:30 Shanghai
    assert (ticket.sla_policy, ticket.first_response_due) == ("office", dt.datetime(2026, 12, 7, 5, 30))
    [ack] = Outbox.select().where(Outbox.kind == "acknowledgement")
    text = ack.raw.tobytes() if hasattr(ack.raw, "tobytes") else bytes(ack.raw)
    import email
    import email.policy
    body = text_of(email.message_from_bytes(text, policy=email.policy.default))
    assert "我们将在 2026年12月7日（星期一）13:30（Asia/Shanghai 时间） 之前首次答复您" in body


def test_customers_import_is_all_or_nothing_idempotent_and_recomputes_tiers(desk, tmp_path):
    settings, _ = desk
    client_writes(settings)  # Alice's ticket, standard tier → default policy
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name,organisation,tier,language\nalice@client.example,Alice,Client,vip,en\n"
                   "not-an-address,X,,,\nbob@x.example,Bob,,gold,\nbob@x.example,Bob,,,fr\n", encoding="utf-8")
    run = [sys.executable, "-m", "postdesk", "--config", settings.source, "customers", "import"]
    refused = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert refused.returncode == 65
    for expected in ("line 3: 'not-an-address' is not an email address", "line 4: unknown tier 'gold'",
                     "line 5: bob@x.example is listed already on line 4", "line 5: language 'fr'",
                     "nothing was imported"):
        assert expected in refused.stderr
    assert Customer.get(Customer.email == "alice@client.example").tier == "standard"
    good = tmp_path / "good.csv"
    good.write_text("\ufeffemail,name,organisation,tier\nalice@client.example,Alice,Client Ltd,vip\n"
                    "李雷@例子.中国,李雷,,\nnew@bigclient.com,New,,\n", encoding="utf-8")
    first = subprocess.run([*run, str(good)], capture_output=True, text=True)
    assert first.returncode == 0 and "3 rows: 2 created, 1 updated, 0 unchanged" in first.stdout, first.stderr
    again = subprocess.run([*run, str(good)], capture_output=True, text=True)
    assert "3 rows: 0 created, 0 updated, 3 unchanged" in again.stdout
    assert Customer.get(Customer.email == "new@bigclient.com").tier == "vip"  # the domain rule
    assert Ticket.get().sla_policy == "vip"  # Alice's open ticket, recomputed
    assert Event.select().where((Event.action == "tier") & (Event.via == "cli")).count() == 1


def test_a_client_chasing_a_breached_ticket_is_a_complaint_with_its_own_policy(desk, clock):
    settings, _ = desk
    client_writes(settings)
    clock.move_to(at(70).replace(tzinfo=dt.UTC))
    check_slas()
    assert Ticket.get().sla_state == "breached"
    client_writes(settings, 2, text="Why has nobody answered?")
    ticket = Ticket.get()
    assert (ticket.category, ticket.sla_policy) == ("complaint", "complaint")
    assert Event.select().where(Event.action == "complaint").count() == 1


def test_complaints_have_their_own_queue_in_the_admin(desk):
    from tests.conftest import signed_in
    from web import create_app

    settings, _ = desk
    client_writes(settings, sender="Erin <erin@client.example>", subject="我要投诉", text="服务太差了")
    client_writes(settings, sender="Finn <finn@client.example>", subject="A question", text="How do I export?")
    page = signed_in(create_app(settings, testing=True)).get("/?category=complaint").get_data(as_text=True)
    assert "我要投诉" in page and "A question" not in page


def test_importing_last_years_mail_sends_no_alerts_and_keeps_clocks_right(desk, clock):
    from mailer import pipeline, spool

    settings, _ = desk
    raw = (b"From: Old <old@client.example>\r\nTo: support@example.com\r\nSubject: Old question\r\n"
           b"Date: Mon, 05 Jan 2026 09:00:00 +0000\r\nMessage-ID: <old-1@client.example>\r\n\r\nHello\r\n")
    pipeline.process(settings, spool.store(raw, "import"), notify=False, historic=True)
    assert Ticket.get().sla_state == "breached"  # it is overdue, and says so
    assert check_slas()["alerts"] == 0 and Outbox.select().count() == 0  # but nobody is woken for it


def test_events_from_before_old_and_new_values_were_data_still_count(desk, clock):
    settings, staff = desk
    client_writes(settings)
    Event.insert(ticket=1, action="status", detail="new → pending", actor="x", via="web",
                 created_at=at(5)).execute()  # as migration 5 left them: no new value
    clock.shift(dt.timedelta(minutes=30))
    client_writes(settings, 2)  # recomputed from that history without failing
    assert clocks()["first_response"].used == 5


def test_a_policy_without_escalations_still_shows_the_breach(desk, clock):
    settings, _ = desk
    client_writes(settings, sender="Carl <carl@sales.bigclient.com>", subject="Quote")  # vip: no escalations
    clock.move_to(at(31).replace(tzinfo=dt.UTC))
    check_slas()
    assert Ticket.get().sla_state == "breached"
    assert Event.select().where(Event.action == "sla_breach").count() == 1  # the first response, once


def test_answering_a_pending_question_after_the_deadline_is_no_complaint(desk, clock):
    settings, staff = desk
    client_writes(settings)
    clock.move_to(at(70).replace(tzinfo=dt.UTC))
    check_slas()  # the first response is breached
    agent_answers(settings, staff["agnes"], Ticket.get(), "Which browser do you use?")
    act.set_status(Ticket.get(), "pending", settings=settings, actor=staff["agnes"], via="web")
    client_writes(settings, 2, text="Firefox 120.")
    assert Ticket.get().category == "" and not Event.select().where(Event.action == "complaint").exists()


def test_a_warning_for_an_inactive_assignee_goes_to_the_team(desk, clock):
    settings, staff = desk
    client_writes(settings)
    act.assign(Ticket.get(), staff["bob"], actor=staff["agnes"], via="web")
    staff["bob"].active = False
    staff["bob"].save()
    clock.move_to(at(50).replace(tzinfo=dt.UTC))
    check_slas()
    assert [w.rcpt_to for w in Outbox.select().where(Outbox.kind == "sla_warning")] == ["agnes@example.com"]


def test_the_customer_import_refuses_addresses_a_mail_never_carries(desk):
    from actions.customers import Row, check_import

    settings, _ = desk
    rows = [Row(2, "alice@example.com,"), Row(3, "bob@example.com;eve@evil.com"), Row(4, "dave@@example.com"),
            Row(5, "<erin@example.com>"), Row(6, "李雷@例子.中国")]
    assert [e.split(":")[0] for e in check_import(rows, settings)] == ["line 2", "line 3", "line 4", "line 5"]


def test_a_ticket_that_fails_in_the_sla_job_stays_due_and_holds_up_no_other(desk, clock, monkeypatch):
    settings, _ = desk
    client_writes(settings)
    client_writes(settings, 1, sender="Dave <dave@other.example>", subject="Invoice")
    real = sla._escalate

    def broken(settings, ticket, *args, **kwargs):
        if ticket.number == 1:
            raise RuntimeError("the relay's template folder vanished")
        return real(settings, ticket, *args, **kwargs)
    monkeypatch.setattr(sla, "_escalate", broken)
    clock.move_to(at(61).replace(tzinfo=dt.UTC))
    assert check_slas()["failed"] == 1
    assert Ticket.get(Ticket.number == 2).escalation_level == 1  # the other one went through
    assert not SlaMark.select().where(SlaMark.ticket == Ticket.get(Ticket.number == 1)).exists()  # rolled back
    monkeypatch.setattr(sla, "_escalate", real)
    check_slas()  # the next run does what the failed one could not, once
    assert Ticket.get(Ticket.number == 1).escalation_level == 1
    assert Event.select().where((Event.action == "sla_breach") & (Event.ticket == 1)).count() == 1


def test_the_clocks_read_from_the_shortened_history_are_those_of_the_whole_history(desk, clock):
    """The history leaves out the client messages that change no clock (those before the first
    reply, and all but the first after each reply). Over seeded random lives of a ticket,
    replies, statuses and client messages, some at the same instant, its clocks are exactly what
    the whole history gives, on the 24x7 policy and on office hours."""
    import random

    from servicelevels import clocks as sla_clocks
    from servicelevels import policies

    settings, _ = desk
    client_writes(settings)
    client_writes(settings, 1, sender="Li <li@example.cn>", to="zh@example.cn", subject="发票")  # office hours
    rng = random.Random(13)
    for trial in range(60):
        ticket_id = 1 + trial % 2
        Event.delete().where(Event.ticket == ticket_id).execute()
        when = T0
        for _ in range(rng.randint(0, 40)):
            when += dt.timedelta(minutes=rng.choice([0, 0, 1, 7, 45, 300]))
            action = rng.choice(["customer_replied"] * 4 + ["reply"] * 2 + ["status", "note", "sla_started"])
            status = rng.choice(["open", "pending", "resolved", "closed"]) if action == "status" else None
            Event.insert(ticket=ticket_id, action=action, actor="x", via="email", created_at=when,
                         new=json.dumps(status) if status else None).execute()
        ticket = Ticket.get_by_id(ticket_id)
        now = when + dt.timedelta(minutes=rng.choice([0, 10, 600]))
        policy, calendar, shortened = sla.clocks_of(settings, ticket, now)
        whole = [sla_clocks.Happening(ticket.created_at, "created")] + [
            sla._happening(e.action, e.new, e.detail, e.created_at)
            for e in Event.select().where((Event.ticket == ticket_id)
                                          & Event.action.in_(["customer_replied", "reply", "status"]))
            .order_by(Event.created_at, Event.id)]
        assert shortened == sla_clocks.compute(whole, policies.targets(policy), calendar, now), trial


def test_a_ticket_written_to_thousands_of_times_reads_a_short_history(desk, clock):
    """A monitoring system mailing one ticket every minute: each of its mails reads the replies,
    the status changes and one client message per reply, not every message before it."""
    settings, staff = desk
    client_writes(settings)
    Event.insert_many([{"ticket": 1, "action": "customer_replied", "actor": "x", "via": "email",
                        "created_at": at(i)} for i in range(1, 3000)]).execute()
    clock.shift(dt.timedelta(minutes=3000))
    act.reply(settings, Ticket.get_by_id(1), staff["bob"], "Looking.", via="web")
    clock.shift(dt.timedelta(minutes=1))
    client_writes(settings, 2)
    clock.shift(dt.timedelta(minutes=1))
    client_writes(settings, 3)
    assert sorted(h.kind for h in sla.history(Ticket.get_by_id(1))) == ["created", "customer", "reply", "status"]
    assert clocks()["next_response"].state == "running"
    assert clocks()["next_response"].started_at == at(3001)  # the oldest unanswered message


def test_staff_alerts_give_the_due_time_in_the_agents_own_time_zone(desk, clock):
    settings, staff = desk
    agents.set_preferences(staff["bob"], "en", "America/New_York")
    client_writes(settings)  # the default policy's 24x7 calendar, in UTC: due at 10:00 UTC
    clock.move_to(at(50).replace(tzinfo=dt.UTC))
    check_slas()
    said = {w.rcpt_to: text_of(email.message_from_bytes(bytes(w.raw), policy=email.policy.default))
            for w in Outbox.select().where(Outbox.kind == "sla_warning")}
    assert "due at 2026-12-07 05:00 EST (America/New_York)" in said["bob@example.com"]  # his profile's zone
    assert "due at 2026-12-07 10:00 (UTC)" in said["agnes@example.com"]  # none of her own: the calendar's
