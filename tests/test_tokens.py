"""Per-agent reply tokens: they prove the agent only from the agent's own address, and cannot be
made up, moved to another ticket, or kept after the secret is rotated."""

import pytest

from mailer import tokens
from models import agents
from models.tables import Message, Ticket
from tests.conftest import ingest


def test_a_token_reads_back_and_nothing_else_does():
    token = tokens.agent_token("s3cret", 7, 42)
    assert tokens.read("s3cret", token) == (7, 42, False)
    note = tokens.agent_token("s3cret", 7, 42, note=True)
    assert tokens.read("s3cret", note) == (7, 42, True)
    assert tokens.read("s3cret", "a" + note[1:]) is None  # a note address cannot be made a reply address
    assert tokens.read("rotated", token) is None  # rotating the secret revokes every token
    moved = token.replace("t2a-", "t2b-")  # the same MAC on another ticket
    assert tokens.read("s3cret", moved) is None
    assert tokens.read("s3cret", token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert tokens.read("s3cret", "0123456789abcdef0123") is None  # a client's ticket token


def agent_mail(sender: str, token: str, text: str) -> bytes:
    return (f"From: Agnes <{sender}>\r\nTo: support+{token}@example.com\r\nSubject: Re: [#1] Cannot log in\r\n"
            f"Message-ID: <agnes-{len(text)}-{sender}@example.com>\r\n\r\n{text}\r\n").encode()


@pytest.fixture
def token(settings):
    """Agnes's token for ticket #1, Alice's question."""
    ingest(settings, "new_question.eml")
    agnes = agents.create_agent("agnes@example.com", "correct horse battery", name="Agnes")
    return tokens.agent_token(settings.signing_key, agnes.id, Ticket.get().id)


def test_an_agent_answering_to_their_token_is_recognised_without_dkim(settings, token):
    mail = agent_mail("agnes@example.com", token, "Checked the logs.")
    ctx = ingest(settings, mail, rcpt=(f"support+{token}@example.com",))
    assert (ctx.agent.email, ctx.threaded_by, ctx.ticket.number) == ("agnes@example.com", "token", 1)
    reply = Message.get(Message.kind == "agent_reply")  # relayed to the client
    assert reply.author_agent.email == "agnes@example.com" and reply.text == "Checked the logs."


def test_a_token_used_from_another_address_is_a_clients_mail(settings, token):
    forwarded = agent_mail("eve@elsewhere.example", token, "I got this notice forwarded.")
    ctx = ingest(settings, forwarded, rcpt=(f"support+{token}@example.com",))
    assert ctx.agent is None and ctx.ticket.number == 1
    message = Message.get(Message.from_address == "eve@elsewhere.example")
    assert message.kind == "customer" and message.outsider
