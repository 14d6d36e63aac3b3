"""Mail processed in batches (imports, the workers' jobs): one transaction, a savepoint per mail,
so one bad mail still fails alone, and a worker that dies in a batch costs the others nothing."""

import datetime as dt

from mailer import importer, pipeline, spool
from models import inbound
from models.base import utcnow
from models.tables import Event, InboundMail, Message, Ticket
from tests.conftest import load_eml


def store(raw: bytes) -> int:
    return spool.store(raw, "smtp", "", ("support@example.com",))


def end_hold(*inbound_ids: int) -> None:
    InboundMail.update(leased_until=utcnow() - dt.timedelta(seconds=1)) \
        .where(InboundMail.id.in_(inbound_ids)).execute()


def test_a_mail_failing_half_way_through_its_action_is_rolled_back_alone(settings, monkeypatch):
    from actions import mail as mail_actions
    from actions import sla

    first, bad, last = store(load_eml("new_question.eml")), store(load_eml("chinese_gbk_question.eml")), \
        store(load_eml("no_message_id.eml"))
    real = sla.recompute

    def recompute_or_fail(settings, ticket, **kwargs):  # after the ticket, its message and events are written
        if "发票" in ticket.subject:
            raise RuntimeError("simulated bug in the SLA clocks")
        return real(settings, ticket, **kwargs)
    monkeypatch.setattr(mail_actions.sla, "recompute", recompute_or_fail)

    outcomes = [ctx.outcome for ctx in pipeline.process_many(settings, [first, bad, last])]
    assert outcomes == ["new_ticket", "failed", "new_ticket"]
    assert Ticket.select().count() == 2 and Message.select().count() == 2  # nothing of the bad mail stays
    assert Event.select().where(Event.ticket.not_in([t.id for t in Ticket.select()])).count() == 0
    row = InboundMail.get_by_id(bad)
    assert row.state == "received" and row.attempts == 1 and "simulated bug" in row.error
    assert [InboundMail.get_by_id(i).state for i in (first, last)] == ["processed", "processed"]


def test_a_batch_of_mail_is_found_by_search_and_a_failed_mail_of_it_is_not(settings, monkeypatch):
    from actions import mail as mail_actions
    from actions import sla
    from models import search
    from models.base import db

    first, bad, last = store(load_eml("new_question.eml")), store(load_eml("chinese_gbk_question.eml")), \
        store(load_eml("no_message_id.eml"))
    real = sla.recompute

    def recompute_or_fail(settings, ticket, **kwargs):
        if "发票" in ticket.subject:
            raise RuntimeError("simulated bug in the SLA clocks")
        return real(settings, ticket, **kwargs)
    monkeypatch.setattr(mail_actions.sla, "recompute", recompute_or_fail)
    assert [ctx.outcome for ctx in pipeline.process_many(settings, [first, bad, last])] == \
        ["new_ticket", "failed", "new_ticket"]

    def found(text):
        return sorted(Ticket.get_by_id(i).subject for i in search.tickets(db.obj, text))
    assert found("password") == ["Cannot log in to my account"]  # a message's words
    assert found("Message-ID") == ["My mail client sends no Message-ID"]  # a subject's
    assert found("发票") == []  # the failed mail's ticket was rolled back, its index rows with it

    monkeypatch.setattr(mail_actions.sla, "recompute", real)
    end_hold(bad)
    assert pipeline.process(settings, bad).outcome == "new_ticket"  # alone, outside a batch
    assert found("发票") == ["发票金额不对"]
    assert found("password") == ["Cannot log in to my account"]  # indexed once, not twice


def test_a_reply_out_of_sight_of_its_batch_waits_for_the_batch_and_then_joins_its_ticket(settings):
    reply = store(load_eml("reply_all_from_cc_colleague.eml"))  # its question is not stored yet
    other = store(load_eml("chinese_gbk_question.eml"))
    contexts = pipeline.process_many(settings, [reply, other], allow_defer=True)
    assert [ctx.outcome for ctx in contexts] == ["deferred", "new_ticket"]
    assert InboundMail.get_by_id(reply).attempts == 0  # a deferral costs no attempt

    question = store(load_eml("new_question_with_cc.eml"))  # stored while the batch ran
    assert pipeline.process(settings, question).outcome == "new_ticket"
    ctx = pipeline.process(settings, reply, allow_defer=True)
    assert (ctx.outcome, ctx.threaded_by) == ("added", "header")
    assert ctx.ticket.id == Message.get(Message.message_id == "<vpn-question@client.example>").ticket_id


def test_a_worker_dying_in_a_batch_costs_the_other_mails_nothing(settings):
    poison, good, also_good = (store(load_eml(name)) for name in
                               ("new_question.eml", "chinese_gbk_question.eml", "no_message_id.eml"))
    assert len(inbound.lease_many([poison, good, also_good], 60, first_attempt_only=True)) == 3
    end_hold(poison, good, also_good)  # the worker holding the batch died
    assert inbound.lease(poison, 60) is not None  # retried alone, the poison mail kills it again
    end_hold(poison)

    contexts = {ctx.row.id: ctx for ctx in pipeline.process_many(settings, [poison, good, also_good])}
    assert {i: ctx.outcome for i, ctx in contexts.items()} == {poison: "new_ticket", good: "new_ticket",
                                                               also_good: "new_ticket"}
    assert contexts[poison].degraded  # read without the MIME parser: it stopped two workers in a row
    assert not contexts[good].degraded and not contexts[also_good].degraded
    assert [InboundMail.get_by_id(i).attempts for i in (poison, good, also_good)] == [3, 2, 2]


def test_an_import_batch_stores_a_message_id_seen_twice_once(settings):
    question, reply = load_eml("new_question_with_cc.eml"), load_eml("reply_to_own_sent_mail.eml")
    results = importer.import_many(settings, [question, question, reply], notify=False)
    assert [r["outcome"] for r in results] == ["new_ticket", "duplicate", "added"]
    assert (InboundMail.select().count(), Message.select().count(), Ticket.select().count()) == (2, 2, 1)
    again = importer.import_many(settings, [reply, question], notify=False)
    assert [r["outcome"] for r in again] == ["duplicate", "duplicate"]


def test_a_batch_reads_its_mails_before_its_transaction_and_a_mail_failing_there_fails_alone(settings, monkeypatch):
    from models.base import db

    good, bad, duplicate = (store(load_eml("new_question.eml")), store(load_eml("chinese_gbk_question.eml")),
                            store(load_eml("new_question.eml")))
    real_parse, real_extract = pipeline.parsing.parse, pipeline.quotes.extract_reply
    in_transaction = []

    def parse(raw):  # SQLite's one write lock is not held while the mail is read
        in_transaction.append(db.in_transaction())
        return real_parse(raw)

    def extract_or_fail(text, ours=()):
        if "发票" in text:
            raise RuntimeError("simulated bug in the quote rules")
        return real_extract(text, ours)
    monkeypatch.setattr(pipeline.parsing, "parse", parse)
    monkeypatch.setattr(pipeline.quotes, "extract_reply", extract_or_fail)

    outcomes = [ctx.outcome for ctx in pipeline.process_many(settings, [good, bad, duplicate])]
    # the bad mail is read again in its attempt, which records its failure; the same mail twice
    # in one batch is still one message (the duplicate check runs in the transaction)
    assert outcomes == ["new_ticket", "failed", "duplicate"]
    assert in_transaction[:3] == [False, False, False] and in_transaction[3:] == [True]
    row = InboundMail.get_by_id(bad)
    assert row.state == "received" and "extract_reply" in row.error and "simulated bug" in row.error
    assert Ticket.select().count() == 1 and Message.select().count() == 1


def test_a_customers_reply_writes_its_events_together_in_the_order_they_happened(settings, monkeypatch):
    from models.base import db

    importer.import_many(settings, [load_eml("new_question_with_cc.eml")], notify=False)
    inserts = []
    real = db.obj.execute_sql

    def counted(sql, params=None, *args, **kwargs):
        if sql.startswith('INSERT INTO "event"'):
            inserts.append(sql)
        return real(sql, params, *args, **kwargs)
    monkeypatch.setattr(db.obj, "execute_sql", counted)
    [result] = importer.import_many(settings, [load_eml("reply_to_own_sent_mail.eml")], notify=False)
    assert result["outcome"] == "added" and len(inserts) == 1
    actions = [e.action for e in Event.select().order_by(Event.id)]
    # Last year's question is long past its first response: the reply is a complaint, which files
    # the ticket under the complaint category, and all of it lands in the one insert, in order.
    assert actions == ["created", "sla_started", "sla_started", "customer_replied", "complaint", "category"]
    ticket = Ticket.get()
    assert ticket.category == settings.tickets.complaint_category and ticket.last_contact_at is not None
    assert ticket.sla_state == "breached"
