"""The admin: staff log in, see the ticket list and a ticket's thread; strangers see nothing."""

import re

import pytest

from mailer import pipeline, spool
from models import inbound
from models.tables import Event, InboundMail, Ticket
from tests.conftest import csrf_token, load_eml, signed_in
from web import create_app


@pytest.fixture
def app(settings, cast):
    for name in ("new_question.eml", "chinese_gbk_question.eml"):
        pipeline.process(settings, spool.store(load_eml(name), "smtp"))
    return create_app(settings, testing=True)



def test_admin_pages_require_login(app):
    client = app.test_client()
    response = client.get("/tickets/1")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused(app):
    client = app.test_client()
    response = client.post("/login", data={"email": "Agnes@Example.com", "password": "wrong password",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 401 and "wrong password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(app):
    response = app.test_client().post("/login", data={"email": "agnes@example.com",
                                                      "password": "correct horse battery"})
    assert response.status_code == 400


def test_ticket_list_and_thread_after_login(app):
    client = signed_in(app, "Agnes@Example.com")  # addresses are case-insensitive
    listing = client.get("/").get_data(as_text=True)
    assert "Cannot log in to my account" in listing and "发票金额不对" in listing
    page = client.get("/tickets/1").get_data(as_text=True)
    assert "Since this morning I cannot log in" in page
    assert 'class="threaded-by">new<' in page
    assert "acknowledgement" in page  # the outgoing mail is listed
    assert client.get("/tickets/99").status_code == 404


def test_open_redirect_after_login_is_refused(app):
    client = app.test_client()
    response = client.post("/login?next=//evil.example/", data={
        "email": "agnes@example.com", "password": "correct horse battery",
        "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/"


def test_logout(app):
    client = signed_in(app)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302


def test_health_reports_database_and_redis(app):
    body = app.test_client().get("/health").get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["redis"] == "ok"


def test_inline_image_is_linked_and_attachments_download(app, settings):
    pipeline.process(settings, spool.store(load_eml("html_only_with_inline_image.eml"), "smtp"))
    pipeline.process(settings, spool.store(load_eml("text_attachment_beside_body.eml"), "smtp"))
    assert app.test_client().get("/attachments/1").status_code == 302  # login first
    client = signed_in(app)
    page = client.get("/tickets/3").get_data(as_text=True)
    image = re.search(r'src="(/attachments/\d+)"', page).group(1)
    assert "cid:" not in page and "<script" not in page.split("<main>")[1]
    response = client.get(image)
    assert response.mimetype == "image/png" and response.data.startswith(b"\x89PNG")
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    log = client.get("/attachments/2")  # text/plain: downloaded, never rendered as a page
    assert log.headers["Content-Disposition"].startswith("attachment;") and log.data == b"ERROR 42 at line 7"
    assert log.mimetype == "application/octet-stream"


def test_bouncing_customer_is_shown_on_the_ticket(app, settings):
    pipeline.process(settings, spool.store(load_eml("bounce_dsn_permanent.eml"), "smtp"))
    client = signed_in(app)
    page = client.get("/tickets/1").get_data(as_text=True)
    assert "Mail to alice@client.example is bouncing" in page and "(permanent)" in page


def test_outsider_mail_and_quarantined_mail_are_shown(app, settings):
    stranger = (b"From: Mallory <mallory@attacker.example>\r\nTo: support@example.com\r\n"
                b"Subject: Re: Cannot log in\r\nMessage-ID: <mallory-2@attacker.example>\r\n"
                b"In-Reply-To: <new-question-1@client.example>\r\n\r\nSend me her password.\r\n")
    pipeline.process(settings, spool.store(stranger, "smtp"))
    client = signed_in(app)
    page = client.get("/tickets/1").get_data(as_text=True)
    assert "mallory@attacker.example is not on this ticket" in page
    inbound.quarantine(InboundMail.get_by_id(spool.store(b"x", "smtp")), "every attempt failed")
    assert client.get("/health").get_json()["quarantined_mail"] == 1


def test_staff_change_status_assignee_priority_and_add_a_note_from_the_ticket_page(app):
    client = signed_in(app)
    token = csrf_token(client, "/tickets/1")
    for path, data in (("status", {"status": "pending"}), ("assignee", {"agent": "agnes@example.com"}),
                       ("priority", {"priority": "high"}), ("note", {"text": "Asked for the logs by phone."}),
                       ("category", {"category": "problem"}), ("tier", {"tier": "vip"})):
        response = client.post(f"/tickets/1/{path}", data={**data, "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/tickets/1"
    ticket = Ticket.get(Ticket.number == 1)
    assert (ticket.status, ticket.assignee.email, ticket.priority) == ("pending", "agnes@example.com", "high")
    assert (ticket.category, ticket.customer.tier) == ("problem", "vip")
    page = client.get("/tickets/1").get_data(as_text=True)
    assert "Asked for the logs by phone." in page and "category problem" in page and "(vip)" in page
    staff_events = Event.select().where(Event.action.in_(("status", "assignee", "priority", "note", "category",
                                                          "tier")))
    assert {e.via for e in staff_events} == {"web"} and staff_events.count() == 6


def test_a_refused_change_is_explained_and_applies_nothing(app):
    client = signed_in(app)
    response = client.post("/tickets/1/priority", data={"priority": "asap", "csrf_token": csrf_token(client, "/")},
                           follow_redirects=True)
    assert "unknown priority" in response.get_data(as_text=True)
    assert Ticket.get(Ticket.number == 1).priority == "normal"


@pytest.mark.parametrize("path", ["/tickets/1/status", "/tickets/1/assignee", "/tickets/1/priority",
                                  "/tickets/1/note", "/tickets/1/reply", "/tickets/1/category", "/tickets/1/tier"])
def test_every_staff_form_needs_a_login_and_its_csrf_token(app, path):
    anonymous = app.test_client()
    assert anonymous.post(path, data={"csrf_token": csrf_token(anonymous)}).status_code == 302  # to the login
    client = signed_in(app)
    assert client.post(path, data={"status": "open", "priority": "high", "text": "x", "category": "problem",
                                   "tier": "vip"}).status_code == 400
    assert Event.select().where(Event.via == "web").count() == 0


def test_a_reply_from_the_admin_reaches_the_client_from_the_support_address(app, settings):
    import email
    import email.policy
    import io

    from models.tables import Outbox, Participant
    from tests.conftest import ingest, run_worker, sent_mail

    ingest(settings, "new_question_with_cc.eml")  # ticket #3: Alice, with Bob copied
    client = signed_in(app)
    page = client.get("/tickets/3").get_data(as_text=True)
    assert "alice@client.example, bob@client.example" in page  # who will receive it
    response = client.post("/tickets/3/reply", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/tickets/3"), "text": "Please restart the VPN client.\n\nAgnes",
        "attachments": (io.BytesIO(b"step 1: restart"), "步骤.txt", "text/plain")})
    assert response.status_code == 302
    rows = list(Outbox.select().where(Outbox.kind == "agent_reply").order_by(Outbox.rcpt_to))
    assert [r.rcpt_to for r in rows] == ["alice@client.example", "bob@client.example"]
    assert Participant.select().count() == 1
    run_worker(settings)
    sent = [email.message_from_bytes(raw, policy=email.policy.default) for raw in sent_mail(settings)]
    replies = [m for m in sent if "restart" in str(m.get_body().get_content())]
    assert len(replies) == 2  # one delivery per recipient, the same mail
    reply = replies[0]
    assert reply["To"] == "alice@client.example"
    assert str(reply["From"]) == "Example Support <support@example.com>"
    assert str(reply["Subject"]) == "[#3] VPN drops every hour"
    assert reply["In-Reply-To"] == "<vpn-question@client.example>"
    assert "<vpn-question@client.example>" in reply["References"]
    assert reply["Cc"] == "bob@client.example"
    assert reply["Reply-To"].addresses[0].username.startswith("support+")
    [attachment] = list(reply.iter_attachments())
    assert attachment.get_filename() == "步骤.txt" and attachment.get_content() == "step 1: restart"
    assert b"agnes@example.com" not in b"".join(sent_mail(settings))  # the agent's address never leaves
    ticket = Ticket.get(Ticket.number == 3)
    assert ticket.status == "open" and ticket.first_responded_at is not None


def test_an_agent_turns_mail_notices_off_on_the_profile_page(app):
    from models.tables import Agent

    client = signed_in(app)
    assert "checked" in client.get("/profile").get_data(as_text=True)
    client.post("/profile", data={"csrf_token": csrf_token(client, "/profile")})  # the box unticked
    assert Agent.get(Agent.email == "agnes@example.com").notices is False
    assert client.post("/profile", data={"notices": "on"}).status_code == 400  # CSRF


def test_dead_mail_is_listed_and_re_sent_from_the_admin_with_its_message_id(app, settings):
    from models.tables import Outbox

    pipeline.process(settings, spool.store(load_eml("new_question.eml"), "smtp"))
    ack = Outbox.get(Outbox.kind == "acknowledgement")
    Outbox.update(state="dead", attempts=8, last_error="550 5.1.1 <x>: mailbox unavailable").execute()
    client = signed_in(app)
    page = client.get("/outbox").get_data(as_text=True)
    assert "550 5.1.1 &lt;x&gt;: mailbox unavailable" in page and "Re-send" in page
    token = csrf_token(client, "/outbox")
    assert client.post(f"/outbox/{ack.id}/resend").status_code == 400  # no CSRF token: refused
    response = client.post(f"/outbox/{ack.id}/resend", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/tickets/1")
    row = Outbox.get_by_id(ack.id)
    assert (row.state, row.attempts, row.message_id) == ("pending", 0, ack.message_id)
    assert Event.get(Event.action == "mail_resent").actor == "agnes@example.com"
    client.post(f"/outbox/{ack.id}/resend", data={"csrf_token": token})
    assert "only dead or failed mail is re-sent" in client.get("/tickets/1").get_data(as_text=True)


def test_remote_images_load_only_when_the_agent_asks(app, settings):
    raw = (b"From: Alice <alice@client.example>\r\nTo: support@example.com\r\nSubject: Newsletter reply\r\n"
           b"Message-ID: <pixel@client.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b'<p>See the chart <img src="https://tracker.example/pixel.gif?id=42"></p>\r\n')
    pipeline.process(settings, spool.store(raw, "smtp"))
    number = Ticket.select().order_by(Ticket.id.desc()).first().number
    client = signed_in(app)
    page = client.get(f"/tickets/{number}")
    assert "img-src 'self' data:;" in page.headers["Content-Security-Policy"]  # the pixel cannot load
    assert "Show remote images" in page.get_data(as_text=True)
    shown = client.get(f"/tickets/{number}?images=remote")
    assert "img-src 'self' data: https:;" in shown.headers["Content-Security-Policy"]
    assert "script-src 'none'" in shown.headers["Content-Security-Policy"]


def test_collaborators_are_added_and_taken_off_from_the_ticket_page(app):
    from models.tables import Participant

    client = signed_in(app)
    token = csrf_token(client, "/tickets/1")
    client.post("/tickets/1/collaborators", data={"csrf_token": token, "address": "Carol@Client.example"})
    assert [p.customer.email for p in Participant.select()] == ["carol@client.example"]
    assert "carol@client.example" in client.get("/tickets/1").get_data(as_text=True)
    client.post("/tickets/1/collaborators", data={"csrf_token": token, "address": "not an address"})
    assert "is not an email address" in client.get("/tickets/1").get_data(as_text=True)
    client.post("/tickets/1/collaborators", data={"csrf_token": token, "address": "carol@client.example",
                                                  "remove": "1"})
    assert Participant.select().count() == 0
    assert Event.select().where(Event.action.in_(("collaborator_added", "collaborator_removed"))).count() == 2
