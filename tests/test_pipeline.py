"""The ingest pipeline: stored mail becomes a ticket or joins one, exactly once."""

import datetime as dt
import email
import email.policy
import json
import subprocess
import sys

import pytest

from mailer import pipeline, spool
from models.base import utcnow
from models.tables import Event, InboundMail, Message, Outbox, Ticket
from tests.conftest import database_locked, ingest, load_eml, make_settings, run_worker, sent_mail, text_of
from workers import outgoing, processing, sweeper


def ack_of(ticket) -> Outbox:
    return Outbox.get((Outbox.ticket == ticket) & (Outbox.kind == "acknowledgement"))


def test_new_mail_opens_ticket_one_with_an_acknowledgement_in_the_outbox(settings):
    ctx = ingest(settings, "new_question.eml")
    ticket = Ticket.get(Ticket.number == 1)
    assert ctx.outcome == "new_ticket" and ctx.threaded_by == "new"
    assert ticket.subject == "Cannot log in to my account" and ticket.status == "new"
    assert ticket.customer.email == "alice@client.example" and ticket.customer.name == "Alice Martin"
    message = ticket.messages.get()
    assert "I cannot log in" in message.text and message.threaded_by == "new"
    ack = email.message_from_bytes(bytes(ack_of(ticket).raw))
    assert ack["Subject"].startswith("[#1] ")
    assert ack["In-Reply-To"] == "<new-question-1@client.example>"
    assert "<new-question-1@client.example>" in ack["References"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["To"] == "alice@client.example"
    assert InboundMail.get().state == "processed" and InboundMail.get().outcome == "new_ticket"


def test_acknowledgement_is_delivered_by_the_worker(settings):
    ingest(settings, "new_question.eml")
    assert sent_mail(settings) == []
    outgoing.enqueue_deliveries(settings, [o.id for o in Outbox.select()])
    run_worker(settings)
    [raw] = sent_mail(settings)
    delivered = email.message_from_bytes(raw, policy=email.policy.default)
    assert "opened ticket #1" in text_of(delivered)
    assert Outbox.get().state == "sent"


def test_ticket_numbers_count_up_from_the_configured_start(tmp_path, redis_server):
    from models import migrations
    from postdesk import runtime

    settings = make_settings(tmp_path, redis_server, tickets={"number_start": 1000})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    ingest(settings, "new_question.eml")
    ingest(settings, "no_message_id.eml")
    assert [t.number for t in Ticket.select().order_by(Ticket.id)] == [1000, 1001]


def test_the_same_message_id_twice_makes_one_message(settings):
    raw = load_eml("new_question.eml")
    first, second = ingest(settings, raw), ingest(settings, raw)
    assert (first.outcome, second.outcome) == ("new_ticket", "duplicate")
    assert Message.select().count() == 1 and Ticket.select().count() == 1
    assert Outbox.select().count() == 1  # answered once


def test_other_mail_reusing_a_message_id_is_kept_and_marked_and_its_own_copy_is_still_one(settings):
    """Broken forms and scripts send every mail with one Message-ID: the same Message-ID on
    different mail is different mail. The same mail again, by another route, is a duplicate."""
    first = (b"From: A <dupa@client-a.example>\r\nTo: support@example.com\r\nSubject: printer broken\r\n"
             b"Message-ID: <1234@localhost>\r\n\r\nThe printer is broken.\r\n")
    second = (b"From: B <dupb@client-b.example>\r\nTo: support@example.com\r\nSubject: refund please\r\n"
              b"Message-ID: <1234@localhost>\r\n\r\nI want a refund.\r\n")
    assert ingest(settings, first).outcome == "new_ticket"
    kept = ingest(settings, second)
    assert kept.outcome == "new_ticket" and kept.ticket.customer.email == "dupb@client-b.example"
    message = Message.get(Message.ticket == kept.ticket)
    assert message.message_id.endswith("@postdesk.invalid>") and "<1234@localhost>" in message.review_reason
    relayed = b"Received: from mx2.example.com by postdesk; Mon, 23 Nov 2026 10:00:01 +0000\r\n" + second
    assert ingest(settings, relayed).outcome == "duplicate"
    assert ingest(settings, b"Received: from mx3 by postdesk\r\n" + first).outcome == "duplicate"
    assert Ticket.select().count() == 2 and Message.select().count() == 2


def test_mail_without_message_id_is_deduplicated_by_its_bytes(settings):
    raw = load_eml("no_message_id.eml")
    assert ingest(settings, raw).outcome == "new_ticket"
    assert ingest(settings, raw).outcome == "duplicate"
    assert Message.get().message_id.endswith("@postdesk.invalid>")


def test_processing_the_same_stored_row_twice_answers_once(settings):
    inbound_id = spool.store(load_eml("new_question.eml"), "smtp")
    pipeline.process(settings, inbound_id)
    again = pipeline.process(settings, inbound_id)
    assert again.outcome == "duplicate" and Outbox.select().count() == 1


def test_reply_to_the_acknowledgement_joins_the_ticket_by_header(settings):
    ingest(settings, "new_question.eml")
    ack_id = ack_of(Ticket.get()).message_id
    raw = load_eml("reply_with_headers.eml").replace(b"ACK_MESSAGE_ID", ack_id.encode())
    ctx = ingest(settings, raw)
    assert ctx.outcome == "added" and ctx.threaded_by == "header"
    assert Ticket.select().count() == 1 and Ticket.get().messages.count() == 2
    reply = Message.get(Message.message_id == "<reply-with-headers-1@client.example>")
    assert reply.reply_text == "It works again after clearing my cookies, thank you."
    assert Outbox.select().count() == 1  # no second acknowledgement for a follow-up


def test_subject_tag_threads_mail_from_the_tickets_customer(settings):
    ingest(settings, "new_question.eml")
    ctx = ingest(settings, "reply_subject_tag_only.eml")
    assert ctx.threaded_by == "subject_tag" and ctx.ticket.number == 1


def test_subject_tag_from_a_stranger_opens_a_new_ticket(settings):
    ingest(settings, "new_question.eml")
    ctx = ingest(settings, "stranger_uses_subject_tag.eml")
    assert ctx.outcome == "new_ticket" and ctx.ticket.number == 2
    assert Ticket.get(Ticket.number == 1).messages.count() == 1


def test_customer_follow_up_reopens_a_pending_ticket(settings):
    from models import tickets

    ingest(settings, "new_question.eml")
    tickets.set_status(Ticket.get(), "pending", actor="agent@example.com", via="web")
    ingest(settings, "reply_subject_tag_only.eml")
    assert Ticket.get().status == "open"
    changes = [(json.loads(e.old), json.loads(e.new), e.via)
               for e in Event.select().where(Event.action == "status").order_by(Event.id)]
    assert changes == [("new", "pending", "web"), ("pending", "open", "email")]  # as data, not prose


def test_an_out_of_office_answering_nothing_we_know_opens_no_ticket_and_is_kept(settings):
    ctx = ingest(settings, "out_of_office.eml")
    assert ctx.outcome == "auto_reply_unthreaded"
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0
    row = InboundMail.get()
    assert (row.state, row.outcome) == ("processed", "auto_reply_unthreaded")  # kept, with what it was


def test_an_out_of_office_on_a_ticket_is_recorded_but_never_answered(settings):
    ingest(settings, "new_question.eml")
    before = Outbox.select().count()
    ctx = ingest(settings, b"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\n"
                           b"Subject: Automatic reply: [#1] Cannot log in to my account\r\n"
                           b"Message-ID: <alice-ooo@client.example>\r\nIn-Reply-To: <new-question-1@client.example>\r\n"
                           b"Auto-Submitted: auto-replied\r\n\r\nI am out of the office until Monday.\r\n")
    assert (ctx.outcome, ctx.ticket.number) == ("auto_reply", 1)
    assert Message.get(Message.message_id == "<alice-ooo@client.example>").kind == "automatic"
    assert Outbox.select().count() == before


def test_mail_from_our_own_address_is_dropped(settings):
    ctx = ingest(settings, "from_our_own_address.eml")
    assert ctx.outcome == "loop" and Ticket.select().count() == 0


def test_mail_without_sender_is_rejected_with_a_reason(settings):
    ctx = ingest(settings, "no_from_header.eml")
    row = InboundMail.get()
    assert ctx.outcome == "rejected" and row.state == "rejected"
    assert "no usable sender address" in row.error and Ticket.select().count() == 0


def test_chinese_gbk_mail_is_decoded_and_acknowledged_in_chinese(settings):
    ingest(settings, "chinese_gbk_question.eml", rcpt=("zh@example.cn",))
    ticket = Ticket.get()
    assert ticket.subject == "发票金额不对" and ticket.customer.name == "张伟"
    assert "我的发票金额不对" in ticket.messages.get().text
    assert ticket.mailbox.address == "zh@example.cn"
    ack = email.message_from_bytes(bytes(ack_of(ticket).raw), policy=email.policy.default)
    assert "感谢您的来信" in text_of(ack) and str(ack["Subject"]).startswith("[#1] 发票")


def test_a_failing_mail_is_retried_then_quarantined_and_replay_processes_it(settings, monkeypatch):
    def broken_step(ctx):
        raise RuntimeError("simulated bug in a pipeline step")

    raw = load_eml("new_question.eml")
    inbound_id = spool.store(raw, "smtp")
    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:2] + (broken_step,) + pipeline.STEPS[2:])
    outcomes = []
    for _ in range(settings.worker.max_attempts):
        outcomes.append(processing.process_inbound(inbound_id))
        assert processing.process_inbound(inbound_id) in ("leased", "quarantined")  # held back, not spun on
        end_hold(inbound_id)
    assert outcomes == ["failed"] * (settings.worker.max_attempts - 1) + ["quarantined"]
    row = InboundMail.get_by_id(inbound_id)
    assert row.state == "quarantined" and bytes(row.raw) == raw
    assert "simulated bug" in row.error and "Traceback" in row.error  # the whole exception
    assert row.message_id == "<new-question-1@client.example>"
    assert Ticket.select().count() == 0  # nothing half-written
    assert sweeper.sweep()["inbound"] == 0  # quarantined mail is out of every queue

    # The bug is fixed and deployed (a new process without the broken step); the operator replays.
    result = subprocess.run([sys.executable, "-m", "postdesk", "--config", settings.source, "replay"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"inbound": inbound_id, "outcome": "new_ticket"}
    assert InboundMail.get_by_id(inbound_id).state == "processed"
    assert Ticket.get().messages.count() == 1 and Outbox.select().count() == 1


def end_hold(inbound_id: int) -> None:
    """Let the time a failed attempt holds a mail back pass."""
    InboundMail.update(leased_until=utcnow() - dt.timedelta(seconds=1)) \
        .where(InboundMail.id == inbound_id).execute()


def test_locked_database_during_processing_loses_nothing(settings):
    inbound_id = spool.store(load_eml("new_question.eml"), "smtp")
    with database_locked(settings), pytest.raises(Exception, match="lock"):
        pipeline.process(settings, inbound_id)  # cannot even take the mail: the job fails
    assert InboundMail.get_by_id(inbound_id).state == "received"
    assert pipeline.process(settings, inbound_id).outcome == "new_ticket"


def test_oversize_mail_reaching_the_pipeline_is_rejected_whole(settings):
    raw = load_eml("new_question.eml") + b"x" * settings.smtp.max_message_bytes
    ctx = ingest(settings, raw)
    row = InboundMail.get()
    assert ctx.outcome == "rejected" and "over the" in row.error
    assert Ticket.select().count() == 0 and Message.select().count() == 0  # nothing half-stored


def test_an_opaque_signed_question_opens_a_ticket_with_its_text_and_attachment(settings):
    ctx = ingest(settings, "smime_opaque_signed.eml")
    assert ctx.outcome == "new_ticket"
    message = Message.get()
    assert (message.ticket.subject, message.text.splitlines()[0]) == ("采购订单 4471 的发票", "您好，")
    assert [a.filename for a in message.attachments] == ["PO-4471.pdf"]
    assert Outbox.get().kind == "acknowledgement"
