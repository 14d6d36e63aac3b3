"""Agents are recognised by address and proof: our MTA's DKIM/DMARC verdict, never From alone."""

from mailer import pipeline
from models import agents, inbound
from models.tables import Customer, Message, Outbox, Ticket
from tests.conftest import load_eml, make_settings


def setup(tmp_path, redis_server):
    from models import migrations
    from postdesk import runtime

    settings = make_settings(tmp_path, redis_server, inbound={"trusted_authserv_id": "mx.example.com"})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    agents.create_agent("agnes@example.com", "correct horse battery", name="Agnes")
    ingest(settings, "new_question.eml")  # ticket #1, Alice's
    return settings


def ingest(settings, name):
    return pipeline.process(settings, inbound.store(load_eml(name), "smtp", "", ("support@example.com",)))


def test_proven_agent_mail_with_tag_is_an_internal_note_on_the_ticket(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    ctx = ingest(settings, "agent_mail_with_dkim_pass.eml")
    assert (ctx.outcome, ctx.threaded_by, ctx.ticket.number) == ("added", "subject_tag", 1)
    note = Message.get(Message.message_id == "<agent-proven@example.com>")
    assert note.kind == "note" and note.author_agent.email == "agnes@example.com"
    assert Outbox.select().count() == 1  # only Alice's acknowledgement: a note goes to nobody
    assert Ticket.get().status == "new"


def test_forged_agent_address_is_handled_as_a_customer(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    ctx = ingest(settings, "agent_mail_forged.eml")
    assert (ctx.outcome, ctx.ticket.number) == ("new_ticket", 2)  # the tag is not trusted
    assert Customer.get(Customer.email == "agnes@example.com")  # treated as a customer
    assert Ticket.get(Ticket.number == 1).messages.count() == 1


def test_verdict_from_someone_elses_mta_is_no_proof(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    assert ingest(settings, "agent_mail_foreign_verdict.eml").ticket.number == 2


def test_without_a_trusted_mta_no_agent_is_recognised(settings):
    agents.create_agent("agnes@example.com", "correct horse battery")
    ingest(settings, "new_question.eml")
    assert ingest(settings, "agent_mail_with_dkim_pass.eml").outcome == "new_ticket"
