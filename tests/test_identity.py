"""Agents are recognised by address and proof: our MTA's DKIM/DMARC verdict, never From alone."""

import email
import email.policy
import logging

import pytest

from mailer import identity, parsing
from models import agents
from models.tables import Customer, Message, Outbox, Ticket
from postdesk.config import Inbound
from tests.conftest import ingest, load_eml, make_settings, text_of


def setup(tmp_path, redis_server):
    from models import migrations
    from postdesk import runtime

    settings = make_settings(tmp_path, redis_server, inbound={"trusted_authserv_id": "mx.example.com"})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    agents.create_agent("agnes@example.com", "correct horse battery", name="Agnes")
    ingest(settings, "new_question.eml")  # ticket #1, Alice's
    return settings



def test_proven_agent_mail_with_tag_is_relayed_to_the_client(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    ctx = ingest(settings, "agent_mail_with_dkim_pass.eml")
    assert (ctx.outcome, ctx.threaded_by, ctx.ticket.number) == ("relayed", "subject_tag", 1)
    reply = Message.get(Message.kind == "agent_reply")
    assert reply.author_agent.email == "agnes@example.com" and "Unlocking now" in reply.text
    [relayed] = Outbox.select().where(Outbox.kind == "agent_reply")
    assert relayed.rcpt_to == "alice@client.example" and b"agnes@example.com" not in bytes(relayed.raw)
    assert Ticket.get().status == "open"
    assert ingest(settings, "agent_mail_with_dkim_pass.eml").outcome == "duplicate"  # relayed once


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


# Our MTA's verdicts read straight from the parsed mail (RFC 8601; see identity.authenticated_domains).

MX = Inbound(trusted_authserv_id="mx.example.com")


def proven(name: str, config: Inbound = MX) -> bool:
    return identity.is_proven(parsing.parse(load_eml(name)), config)


@pytest.mark.parametrize("name", ["agent_mail_with_dkim_pass.eml",
                                  "agent_mail_through_postdesk_edge.eml",
                                  "agent_mail_through_dovecot_lmtp.eml"])
def test_verdict_our_mta_put_above_its_received_line_is_proof(name):
    assert proven(name)


def test_verdict_forged_below_the_senders_own_received_line_is_no_proof():
    mail = parsing.parse(load_eml("agent_mail_forged_below_sender_received.eml"))
    assert identity.authenticated_domains(mail, MX) == {"attacker.example"}  # our MTA's own pass
    assert not identity.is_proven(mail, MX)


def test_pass_copy_below_our_mtas_fail_is_no_proof():
    assert not proven("agent_mail_pass_copy_under_fail.eml")


def test_verdict_forged_right_below_our_mtas_received_line_is_no_proof():
    # The attacker also wrote a Received "by mx.example.com" below: only the topmost is ours.
    assert not proven("agent_mail_forged_direct_to_our_mta.eml")


def test_without_a_received_line_by_our_mta_nothing_is_believed():
    assert not proven("agent_mail_verdict_without_our_mta_received.eml")


@pytest.mark.parametrize("name", ["agent_mail_authres_quoted_domain.eml",
                                  "agent_mail_authres_header_i.eml",
                                  "agent_mail_authres_comment_semicolons.eml",
                                  "agent_mail_authres_version_cfws.eml"])
def test_a_pass_is_read_whatever_rfc8601_syntax_writes_it(name):
    assert proven(name)


@pytest.mark.parametrize("name", ["agent_mail_authres_none_with_comment.eml",
                                  "agent_mail_authres_malformed.eml"])
def test_a_pass_inside_a_comment_or_a_broken_field_is_no_proof(name):
    assert not proven(name)


def test_a_field_that_does_not_parse_counts_for_nothing_and_is_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="mailer.identity")
    mail = parsing.parse(load_eml("agent_mail_authres_malformed.eml"))
    assert identity.authenticated_domains(mail, MX) == set()
    assert "<agent-mail-authres-malformed@example.com> Authentication-Results ignored" in caplog.text


MX_HOSTS = ("mx1.example.com", "mx2.example.com")


@pytest.mark.parametrize("name, config, expected", [
    ("agent_mail_with_dkim_pass.eml", Inbound("mx.example.com", ("MX.Example.COM",)), True),
    ("agent_mail_with_dkim_pass.eml", Inbound("mx.example.com", ("mx2.example.com",)), False),
    ("agent_mail_through_second_mx.eml", Inbound("example.com", MX_HOSTS), True),
    ("agent_mail_through_second_mx.eml", Inbound("example.com"), False),  # no Received "by example.com"
    ("agent_mail_through_second_mx.eml", Inbound("mx.example.com", MX_HOSTS), False),  # another id
    ("agent_mail_with_dkim_pass.eml", Inbound(""), False),
])
def test_trusted_mta_hosts_name_our_mtas_received_line(name, config, expected):
    assert proven(name, config) is expected


def test_an_agent_writing_from_another_of_their_addresses_is_recognised(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    from models.tables import Agent
    Agent.delete().where(Agent.email == "agnes@example.com").execute()
    other = agents.create_agent("agnes.main@example.com", "correct horse battery", name="Agnes")
    agents.add_address(other, "AGNES@example.com")  # the address her phone sends from
    ctx = ingest(settings, "agent_mail_with_dkim_pass.eml")
    reply = Message.get(Message.kind == "agent_reply")
    assert ctx.outcome == "relayed" and reply.author_agent.email == "agnes.main@example.com"
    with pytest.raises(ValueError):
        agents.add_address(other, "agnes.main@example.com")


PROOF = (b"Authentication-Results: mx.example.com; dmarc=pass (p=reject dis=none) header.from=example.com\r\n"
         b"Authentication-Results: mx.example.com; dkim=pass header.d=example.com header.i=@example.com\r\n"
         b"Received: from smtp.example.com (smtp.example.com [203.0.113.25])\r\n\tby mx.example.com (Postfix) "
         b"with ESMTPS id 4XJ2kT0Z3Lz9sWq\r\n\tfor <support@example.com>; Mon, 23 Nov 2026 15:00:02 +0100\r\n"
         b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=mail; b=Kx3Jc9aQ\r\n")


def test_an_agents_empty_outlook_reply_all_runs_nothing_of_the_clients_mail(tmp_path, redis_server):
    """Alice copied Agnes and began her mail with commands; Agnes pressed Reply All and sent it
    empty. Outlook quotes without "> ": below its header block is Alice's mail, not Agnes's."""
    settings = setup(tmp_path, redis_server)
    raw = PROOF + (b"From: Agnes <agnes@example.com>\r\nTo: support@example.com, alice@client.example\r\n"
                   b"Subject: RE: [#1] Cannot log in\r\nMessage-ID: <agnes-empty@example.com>\r\n\r\n\r\n"
                   b"From: Alice <alice@client.example>\r\nSent: Monday, November 23, 2026 10:00 AM\r\n"
                   b"To: support@example.com\r\nCc: Agnes <agnes@example.com>\r\nSubject: Cannot log in\r\n\r\n"
                   b"#priority urgent\r\n#tier vip\r\nPlease hurry.\r\n")
    ctx = ingest(settings, raw)
    assert ctx.agent is not None and ctx.outcome == "refused"
    ticket = Ticket.get(Ticket.number == 1)
    assert ticket.priority != "urgent" and ticket.customer.tier != "vip"
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()


def agent_attaching(subject: str, text: str, attached: str) -> bytes:
    """A proven agent's mail to the support address with one mail attached."""
    return PROOF + (f"From: Agnes <agnes@example.com>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{abs(hash(subject))}@example.com>\r\nMIME-Version: 1.0\r\n"
                    f"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\n"
                    f"{text}\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n{attached}\r\n--m--\r\n").encode()


def test_an_agent_forwarding_a_clients_mail_as_an_attachment_opens_the_ticket_for_the_client(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    raw = agent_attaching("FW: Printer offline", "She is a VIP.",
                          "From: Carol Jones <carol@customer.example>\r\nTo: Agnes <agnes@example.com>\r\n"
                          "Subject: Printer offline\r\nMessage-ID: <carol-1@customer.example>\r\n\r\n"
                          "Our printer has been offline since Monday.")
    assert ingest(settings, raw).outcome == "new_ticket"
    ticket = Ticket.get(Ticket.number == 2)
    assert (ticket.customer.email, ticket.subject) == ("carol@customer.example", "Printer offline")
    assert Message.get((Message.ticket == ticket) & (Message.kind == "note")).text == "She is a VIP."
    assert not Customer.select().where(Customer.email == "agnes@example.com").exists()


def test_where_our_mta_vouches_for_senders_an_agents_reply_address_alone_proves_nothing(tmp_path, redis_server):
    """The reply address is seen by everyone the agent's mail also went to (a client in Cc): with
    our MTA's DKIM verdict to be had, a mail to it from the agent's address without that verdict
    is a client's, and the agent is told; with it, it is the agent's."""
    from mailer import tokens

    settings = setup(tmp_path, redis_server)
    token = tokens.agent_token(settings.signing_key, identity.find_agent("agnes@example.com").id, 1)
    forged = (f"From: Agnes <agnes@example.com>\r\nTo: support+{token}@example.com\r\nSubject: Re: [#1] Cannot log in"
              f"\r\nMessage-ID: <forged@attacker.example>\r\n\r\n#priority low\r\nRefund approved.\r\n").encode()
    ctx = ingest(settings, forged, rcpt=(f"support+{token}@example.com",))
    assert ctx.agent is None and ctx.ticket.number == 1
    assert Ticket.get(Ticket.number == 1).priority != "low"
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()
    [told] = Outbox.select().where((Outbox.kind == "command_error") & (Outbox.rcpt_to == "agnes@example.com"))
    assert "without your mail server's DKIM proof" in text_of(email.message_from_bytes(bytes(told.raw),
                                                                                        policy=email.policy.default))
    real = PROOF + forged.replace(b"<forged@attacker.example>", b"<real@example.com>")
    assert ingest(settings, real, rcpt=(f"support+{token}@example.com",)).outcome == "relayed"


def test_a_mail_with_two_from_fields_is_proven_by_no_verdict(tmp_path, redis_server):
    """Our own signed acknowledgement re-sent with "From: Agnes" added above the signed From: a
    verifier that misses the second From would pass it; one From of one address is required."""
    settings = setup(tmp_path, redis_server)
    raw = PROOF + (b"From: Agnes <agnes@example.com>\r\nFrom: Example Support <support@example.com>\r\n"
                   b"To: support@example.com\r\nSubject: Re: [#1] Cannot log in\r\nMessage-ID: <two-from@example.com>"
                   b"\r\n\r\nYour refund is approved: confirm your card at https://evil.example\r\n")
    assert not identity.is_proven(parsing.parse(raw), settings.inbound)
    assert ingest(settings, raw).agent is None


def test_a_mail_an_agent_attaches_as_evidence_opens_no_ticket_for_its_sender(tmp_path, redis_server):
    settings = setup(tmp_path, redis_server)
    raw = agent_attaching("Phishing attempt against our clients", "See the attached phish.",
                          "From: Security <security@paypa1-verify.example>\r\nSubject: Verify your account\r\n"
                          "Message-ID: <phish@paypa1-verify.example>\r\n\r\nClick here.")
    ingest(settings, raw)
    assert not Customer.select().where(Customer.email == "security@paypa1-verify.example").exists()
    assert not Outbox.select().where(Outbox.rcpt_to == "security@paypa1-verify.example").exists()


@pytest.mark.parametrize("subject, forward", [
    ("Fwd: Printer offline", "---------- Forwarded message ---------\r\nFrom: Carol Jones <Carol@Customer.example>\r\n"
     "Date: Mon, 23 Nov 2026 at 09:00\r\nSubject: Printer offline\r\nTo: Agnes <agnes@example.com>\r\n"),
    ("转发: 打印机离线", "------------------ 原始邮件 ------------------\r\n"
     "发件人: \"Carol Jones\"<carol@customer.example>;\r\n发送时间: 2026年11月23日(星期一) 上午9:00\r\n"
     "收件人: \"Agnes\"<agnes@example.com>;\r\n主题: Printer offline\r\n"),
])
def test_an_agent_forwarding_a_clients_mail_opens_the_ticket_for_the_client(tmp_path, redis_server, subject, forward):
    """Zendesk's agent forwarding: the client who wrote it is the customer and is acknowledged;
    what the agent wrote above the forward is a note."""
    settings = setup(tmp_path, redis_server)
    raw = PROOF + (f"From: Agnes <agnes@example.com>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
                   f"Message-ID: <agnes-fwd@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                   f"Please take this one, she is a VIP.\r\n\r\n{forward}\r\n"
                   f"Hello, our printer has been offline since Monday.\r\n\r\nCarol\r\n").encode()
    ctx = ingest(settings, raw)
    assert ctx.outcome == "new_ticket"
    ticket = Ticket.get(Ticket.number == 2)
    assert (ticket.customer.email, ticket.customer.name, ticket.subject) == (
        "carol@customer.example", "Carol Jones", "Printer offline")
    first = Message.get((Message.ticket == ticket) & (Message.kind == "customer"))
    assert first.text.startswith("Hello, our printer") and first.from_address == "carol@customer.example"
    note = Message.get((Message.ticket == ticket) & (Message.kind == "note"))
    assert note.text == "Please take this one, she is a VIP."
    [ack] = Outbox.select().where((Outbox.kind == "acknowledgement") & (Outbox.ticket == ticket))
    assert ack.rcpt_to == "carol@customer.example"
    assert not Customer.select().where(Customer.email == "agnes@example.com").exists()
