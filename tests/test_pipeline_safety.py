"""The pipeline against stalls and strangers: a time budget nothing swallows, leases instead of
double processing, unreadable mail still a ticket, outsiders on a thread bring nobody in."""

import datetime as dt

from mailer import pipeline, spool
from models import inbound
from models.base import utcnow
from models.tables import Event, InboundMail, Message, Participant, Ticket
from tests.conftest import load_eml, make_settings
from workers import sweeper


def store(raw: bytes) -> int:
    return spool.store(raw, "smtp", "sender@client.example", ("support@example.com",))


def end_hold(inbound_id: int) -> None:
    InboundMail.update(leased_until=utcnow() - dt.timedelta(seconds=1)) \
        .where(InboundMail.id == inbound_id).execute()


def spinning_step(ctx):
    """A step stuck in a loop that swallows every Exception, as the HTML conversion was."""
    while True:
        try:
            sum(range(10_000))
        except Exception:
            pass


def test_a_stuck_mail_is_stopped_by_its_budget_then_opened_as_a_ticket_for_review(
        tmp_path, redis_server, monkeypatch):
    settings = make_settings(tmp_path, redis_server, worker={"mail_budget_seconds": 1})
    from models import migrations
    from postdesk import runtime
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    stuck = store(load_eml("new_question.eml"))
    monkeypatch.setattr(pipeline, "STEPS", (pipeline.parse, spinning_step) + pipeline.STEPS[1:])
    first = pipeline.process(settings, stuck)
    assert first.outcome == "failed"
    row = InboundMail.get_by_id(stuck)
    assert row.state == "received" and "budget" in row.error and "spinning_step" in row.error
    monkeypatch.undo()

    end_hold(stuck)
    second = pipeline.process(settings, stuck)  # read without the MIME parser this time
    assert second.outcome == "new_ticket"
    message = Ticket.get().messages.get()
    assert message.review_reason and "budget" in message.review_reason
    assert message.from_address == "alice@client.example" and message.subject == "Cannot log in to my account"
    assert [a.filename for a in message.attachments] == ["original.eml"]
    assert Event.select().where(Event.action == "needs_review").count() == 1


def test_a_leased_mail_is_neither_processed_nor_re_enqueued_by_another_worker(settings):
    inbound_id = store(load_eml("new_question.eml"))
    held = inbound.lease(inbound_id, 60)  # another worker has it right now
    assert held is not None and held.attempts == 1
    assert pipeline.process(settings, inbound_id).outcome == "leased"
    InboundMail.update(received_at=utcnow() - dt.timedelta(hours=1)).execute()
    assert sweeper.sweep()["inbound"] == 0
    assert Ticket.select().count() == 0


def test_a_mail_that_kills_its_worker_every_time_is_quarantined(settings):
    inbound_id = store(load_eml("new_question.eml"))
    for _ in range(settings.worker.max_attempts):  # each attempt's worker is SIGKILLed mid-way
        assert inbound.lease(inbound_id, 60) is not None
        end_hold(inbound_id)
    assert pipeline.process(settings, inbound_id).outcome == "quarantined"
    row = InboundMail.get_by_id(inbound_id)
    assert row.state == "quarantined" and "interrupted" in row.error
    assert row.message_id == "<new-question-1@client.example>"


def test_a_stranger_threading_by_message_id_adds_nobody_and_is_marked(settings):
    pipeline.process(settings, store(load_eml("new_question_with_cc.eml")))  # Alice, Cc Bob
    stranger = (b"From: Mallory <mallory@attacker.example>\r\n"
                b"To: support@example.com\r\n"
                b"Cc: Eve <eve@attacker.example>\r\n"
                b"Subject: Re: VPN drops every hour\r\n"
                b"Message-ID: <mallory-1@attacker.example>\r\n"
                b"In-Reply-To: <vpn-question@client.example>\r\n\r\n"
                b"I am with Alice, please send me the VPN keys.\r\n")
    ctx = pipeline.process(settings, store(stranger))
    assert ctx.outcome == "added" and ctx.ticket.number == 1
    message = Message.get(Message.message_id == "<mallory-1@attacker.example>")
    assert message.outsider
    participants = {p.customer.email for p in Participant.select()}
    assert participants == {"bob@client.example"}  # Eve was not brought in
    assert Event.get(Event.action == "outsider").actor == "mallory@attacker.example"

    # So Eve's [#1] tag is not trusted: her mail opens a ticket of her own.
    tagged = (b"From: Eve <eve@attacker.example>\r\nTo: support@example.com\r\n"
              b"Subject: [#1] VPN drops every hour\r\nMessage-ID: <eve-1@attacker.example>\r\n\r\n"
              b"Keys please.\r\n")
    assert pipeline.process(settings, store(tagged)).outcome == "new_ticket"
    assert Ticket.select().count() == 2


def test_the_customer_s_own_reply_still_brings_in_colleagues(settings):
    pipeline.process(settings, store(load_eml("new_question.eml")))
    reply = (b"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\n"
             b"Cc: Carol <carol@client.example>\r\nSubject: Re: Printer on fire\r\n"
             b"Message-ID: <alice-2@client.example>\r\n"
             b"In-Reply-To: <new-question-1@client.example>\r\n\r\nCarol has the details.\r\n")
    ctx = pipeline.process(settings, store(reply))
    assert ctx.outcome == "added" and not Message.get(Message.message_id == "<alice-2@client.example>").outsider
    assert {p.customer.email for p in Participant.select()} == {"carol@client.example"}


def test_a_mail_copied_to_a_crowd_brings_in_at_most_48_and_replies_reach_no_more(settings, cast):
    """Every public reply goes to the ticket's participants: a client's mail copied to sixty
    people brings in 48 (Zendesk's cap on CCs), names the rest in an event, and a later copy
    adds nobody more."""
    from actions import tickets as staff
    from models.tables import Outbox

    crowd = ", ".join(f"person{i}@crowd.example" for i in range(60))
    question = (f"From: Alice <alice@client.example>\r\nTo: support@example.com\r\nCc: {crowd}\r\n"
                f"Subject: Printer\r\nMessage-ID: <crowd-1@client.example>\r\n\r\nHelp.\r\n").encode()
    ctx = pipeline.process(settings, store(question))
    assert ctx.outcome == "new_ticket"
    assert {p.customer.email for p in Participant.select()} == {f"person{i}@crowd.example" for i in range(48)}
    event = Event.get(Event.action == "participants_not_added")
    assert "12 people" in event.detail and "person59@crowd.example" in event.new
    again = (b"From: Alice <alice@client.example>\r\nTo: support@example.com\r\n"
             b"Cc: person0@crowd.example, newcomer@client.example\r\nSubject: Re: Printer\r\n"
             b"Message-ID: <crowd-2@client.example>\r\nIn-Reply-To: <crowd-1@client.example>\r\n\r\nAnd?\r\n")
    assert pipeline.process(settings, store(again)).outcome == "added"
    assert Participant.select().count() == 48
    latest = Event.select().where(Event.action == "participants_not_added").order_by(Event.id.desc()).get()
    assert "newcomer@client.example" in latest.new and "person0" not in latest.new  # already on it
    done = staff.reply(settings, ctx.ticket, cast["bob"], "Looking into it.", via="web")
    assert Outbox.select().where(Outbox.id.in_(done.outbox_ids)).count() == 49  # Alice and the 48


def test_a_worker_killed_once_costs_the_mail_nothing(settings):
    inbound_id = store(load_eml("new_question.eml"))
    assert inbound.lease(inbound_id, 60) is not None  # its worker is SIGKILLed by an operator
    end_hold(inbound_id)
    assert pipeline.process(settings, inbound_id).outcome == "new_ticket"
    message = Message.get()
    assert not message.review_reason and "cannot log in" in message.text  # read in full, not degraded


def test_two_workers_dying_on_the_same_mail_make_the_next_attempt_read_it_degraded(settings):
    inbound_id = store(load_eml("new_question.eml"))
    for _ in range(2):
        assert inbound.lease(inbound_id, 60) is not None
        end_hold(inbound_id)
    assert pipeline.process(settings, inbound_id).outcome == "new_ticket"
    assert "interrupted" in Message.get().review_reason


def test_the_jobs_own_deadline_charges_the_mail_it_stops_and_not_the_next(settings, monkeypatch):
    from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

    stuck, ordinary = store(load_eml("new_question.eml")), store(load_eml("chinese_gbk_question.eml"))
    real = pipeline.STEPS

    def spin_on_the_first(ctx):
        if ctx.row.id == stuck:
            spinning_step(ctx)
    monkeypatch.setattr(pipeline, "STEPS", (pipeline.parse, spin_on_the_first) + real[1:])
    with UnixSignalDeathPenalty(1, JobTimeoutException):  # RQ's job timeout, an ordinary Exception
        first = pipeline.process(settings, stuck)
        second = pipeline.process(settings, ordinary)
    assert first.outcome == "failed" and "budget" in InboundMail.get_by_id(stuck).error
    assert second.outcome == "new_ticket"  # the spent alarm did not go off again in the next mail
    assert not Message.get().review_reason  # and the mail it stopped was not read degraded


def test_a_participants_reply_all_brings_nobody_in(settings):
    pipeline.process(settings, store(load_eml("new_question_with_cc.eml")))  # Alice, Cc Bob
    reply_all = (b"From: Bob Lee <bob@client.example>\r\nTo: support@example.com\r\n"
                 b"Cc: Eve <eve@elsewhere.example>\r\nSubject: Re: VPN drops every hour\r\n"
                 b"Message-ID: <bob-2@client.example>\r\nIn-Reply-To: <vpn-question@client.example>\r\n\r\n"
                 b"Adding Eve.\r\n")
    assert pipeline.process(settings, store(reply_all)).outcome == "added"
    assert not Message.get(Message.message_id == "<bob-2@client.example>").outsider
    assert {p.customer.email for p in Participant.select()} == {"bob@client.example"}


def test_replay_of_a_mail_quarantined_over_budget_reads_it_in_full(settings):
    inbound_id = store(load_eml("new_question.eml"))
    row = inbound.lease(inbound_id, 60)
    inbound.quarantine(row, f"{inbound.OVER_BUDGET}: processing took longer than its budget")
    inbound.release_for_replay([inbound_id])
    assert pipeline.process(settings, inbound_id).outcome == "new_ticket"
    assert not Message.get().review_reason  # the fixed deployment gets a real try


def test_a_mailbox_row_rolled_back_is_not_remembered(settings):
    from models import tickets
    from models.base import db
    from models.tables import Mailbox

    with db.atomic() as transaction:
        tickets.sync_mailbox(settings.mailboxes[0])
        transaction.rollback()
    assert Mailbox.select().count() == 0
    assert pipeline.process(settings, store(load_eml("new_question.eml"))).outcome == "new_ticket"
