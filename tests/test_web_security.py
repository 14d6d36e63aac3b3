"""The admin against an attacker: redirects after login, password guessing, sessions, cookies,
attachment names that lie about their extension."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from models import agents
from models.base import db, utcnow
from models.tables import Agent, Attachment, LoginFailure, Message, Ticket, WebSession
from tests.conftest import PASSWORD, csrf_token, make_settings
from tests.test_web import app  # noqa: F401  (a fixture)
from web import create_app
from web.auth import local_target
from web.text import visible_name


def log_in(client, email="agnes@example.com", password=PASSWORD, next_=None):
    return client.post("/login" + (f"?next={quote(next_)}" if next_ is not None else ""), data={
        "email": email, "password": password, "csrf_token": csrf_token(client)})


def from_address(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


# 1, 2: where the login form sends the agent afterwards

@pytest.mark.parametrize("target", [
    "/\t/evil.example/", "/\n/evil.example/", "\t//evil.example/", " //evil.example/",
    "\x01/\\evil.example/", "/\\evil.example/", "https://evil.example/", "javascript:alert(1)",
    "/\x00/evil.example/",
])
def test_next_that_a_browser_reads_as_another_site_goes_to_the_default_page(app, target):
    response = log_in(app.test_client(), next_=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_next_with_a_line_break_gives_the_normal_redirect(app):
    response = log_in(app.test_client(), next_="/tickets/1\r\nSet-Cookie: planted=1")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "planted" not in response.headers.get("Set-Cookie", "")


def test_next_on_this_site_is_kept(app):
    response = log_in(app.test_client(), next_="/tickets/1?tab=events")
    assert response.headers["Location"] == "/tickets/1?tab=events"


@pytest.mark.parametrize(("target", "expected"), [
    ("/tickets/1", "/tickets/1"), ("/?status=open", "/?status=open"), ("/票", "/%E7%A5%A8"),
    (" /tickets/1 ", "/tickets/1"), ("/tickets/1\n", "/"), ("/\t/evil", "/"), ("//evil", "/"),
    ("/\\evil", "/"),
    ("//[evil", "/"), ("evil.example", "/"), ("", "/"), ("/\x7f/x", "/"),
])
def test_local_target(target, expected):
    assert local_target(target, "/") == expected


# 3: password guessing

def test_guessing_from_a_few_machines_does_not_lock_the_agent_out(app):
    for n in range(5):  # as many wrong passwords as a client address may send, from each of five
        for _ in range(5):
            log_in(from_address(app, f"198.51.100.{n}"), password="guess")
    assert log_in(from_address(app, "198.51.100.0")).status_code == 429  # those machines are refused
    assert log_in(from_address(app, "203.0.113.9")).status_code == 302  # the agent is not


@pytest.fixture
def strict_app(tmp_path, redis_server):
    """The admin with 8 wrong passwords allowed per staff address, from anywhere."""
    settings = make_settings(tmp_path, redis_server, web={"login_attempts_per_account": 8})
    from models import migrations
    from postdesk import runtime
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    agents.create_agent("agnes@example.com", PASSWORD)
    agents.create_agent("bob@example.com", PASSWORD)
    return create_app(settings, testing=True)


def test_guessing_spread_over_many_machines_locks_the_address_but_not_for_the_agents_own_browser(strict_app):
    own = from_address(strict_app, "203.0.113.9")
    assert log_in(own).status_code == 302  # the agent's browser, which now holds a device cookie
    for n in range(8):
        assert log_in(from_address(strict_app, f"198.51.100.{n}"), password="guess").status_code == 401
    refused = log_in(from_address(strict_app, "192.0.2.1"))  # any other browser, even with the right password
    body = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "Too many failed logins" in body and "15 more minutes" in body
    assert int(refused.headers["Retry-After"]) > 0
    assert log_in(own).status_code == 302
    assert LoginFailure.select().where(LoginFailure.key == "email:agnes@example.com").count() == 0  # forgiven

    for n in range(8):
        for email in ("agnes@example.com", "bob@example.com"):
            log_in(from_address(strict_app, f"198.51.100.{n}"), email=email, password="guess")
    forged = from_address(strict_app, "192.0.2.1")
    forged.set_cookie("postdesk_device", own.get_cookie("postdesk_device").value[:-2] + "xx")
    assert log_in(forged).status_code == 429  # a cookie the admin did not sign is no known browser
    assert log_in(own, email="bob@example.com").status_code == 429  # agnes's browser is not bob's

    LoginFailure.update(at=utcnow() - dt.timedelta(minutes=16)).execute()  # the window passes
    assert log_in(from_address(strict_app, "192.0.2.1")).status_code == 302


def lock_the_address(strict_app, email="agnes@example.com"):
    for n in range(8):  # its 8 from anywhere, from machines that may each try 5
        log_in(from_address(strict_app, f"198.51.100.{n}"), email=email, password="guess")


def test_a_copied_device_cookie_gets_no_more_guesses_than_a_client_address(strict_app):
    own = from_address(strict_app, "203.0.113.9")
    assert log_in(own).status_code == 302
    for n in range(5):  # the cookie carried to five machines
        thief = from_address(strict_app, f"192.0.2.{n}")
        thief.set_cookie("postdesk_device", own.get_cookie("postdesk_device").value)
        assert log_in(thief, password="guess").status_code == 401
    assert log_in(thief).status_code == 429  # the cookie's own 5 are used up
    assert log_in(from_address(strict_app, "203.0.113.20")).status_code == 302  # not the address's


def test_a_new_password_ends_the_device_cookies_given_before(strict_app):
    own = from_address(strict_app, "203.0.113.9")
    assert log_in(own).status_code == 302
    agents.set_password(Agent.get(Agent.email == "agnes@example.com"), "a new password for agnes")
    lock_the_address(strict_app)
    assert log_in(own, password="a new password for agnes").status_code == 429  # known no more


def test_a_known_browser_behind_a_busy_address_and_shared_by_two_agents_gets_in(strict_app):
    browser = from_address(strict_app, "203.0.113.9")
    assert log_in(browser).status_code == 302 and log_in(browser, email="bob@example.com").status_code == 302
    for n in range(5):  # someone behind the same NAT guesses at other addresses
        log_in(from_address(strict_app, "203.0.113.9"), email=f"someone{n}@example.com", password="guess")
    lock_the_address(strict_app, "agnes@example.com")
    lock_the_address(strict_app, "bob@example.com")
    assert log_in(browser).status_code == 302 and log_in(browser, email="bob@example.com").status_code == 302
    assert log_in(from_address(strict_app, "203.0.113.9")).status_code == 429  # a browser it does not know


def test_wrong_passwords_from_one_client_address_lock_it(app):
    attacker = from_address(app, "198.51.100.7")
    for n in range(5):
        log_in(attacker, email=f"someone{n}@example.com", password="guess")
    assert log_in(attacker).status_code == 429
    assert log_in(from_address(app, "203.0.113.9")).status_code == 302  # others are not locked out


def test_behind_a_proxy_the_forwarded_client_address_is_the_one_limited(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server, web={"proxy_count": 1})
    from models import migrations
    from postdesk import runtime
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    agents.create_agent("agnes@example.com", PASSWORD)
    proxied = create_app(settings, testing=True)

    def via_proxy(client_address):
        client = from_address(proxied, "10.0.0.2")  # every request arrives from the proxy
        client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
        return client
    for n in range(5):
        log_in(via_proxy("198.51.100.7"), email=f"someone{n}@example.com", password="guess")
    assert log_in(via_proxy("198.51.100.7")).status_code == 429
    assert log_in(via_proxy("203.0.113.9")).status_code == 302  # the proxy's other clients are not


def test_a_successful_login_clears_the_failures_of_its_address(app):
    for _ in range(4):
        log_in(from_address(app, "198.51.100.1"), password="guess")
    assert log_in(from_address(app, "198.51.100.2")).status_code == 302
    for _ in range(4):
        log_in(from_address(app, "198.51.100.3"), password="guess")
    assert log_in(from_address(app, "198.51.100.4")).status_code == 302


def test_guesses_sent_at_once_get_no_more_than_the_limit(app):
    def guess(n):
        with db.connection_context():
            return agents.log_in("agnes@example.com", "guess", client=f"198.51.100.{n}", attempts=5,
                                 lockout_minutes=15, idle_minutes=480)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(guess, range(20)))
    assert sum(1 for r in results if r.locked_until) == 15
    assert LoginFailure.select().where(LoginFailure.key == "email:agnes@example.com").count() == 5


def test_old_login_failures_are_pruned(app):
    LoginFailure.create(key="email:old@example.com", at=utcnow() - dt.timedelta(days=1))
    log_in(app.test_client(), password="guess")
    assert not LoginFailure.select().where(LoginFailure.key == "email:old@example.com").exists()


# 4: sessions live on the server

def session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_the_session_cookie_holds_only_a_server_side_id(app):
    client = app.test_client()
    log_in(client)
    data = app.session_interface.get_signing_serializer(app).loads(session_cookie(client))
    assert set(data) - {"_permanent"} == {"session_id"}  # _permanent: Flask's flag for the expiry
    assert WebSession.get_by_id(data["session_id"]).agent.email == "agnes@example.com"


def test_a_cookie_replayed_after_logout_gets_the_login_page(app):
    client = app.test_client()
    log_in(client)
    stolen = session_cookie(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert WebSession.select().count() == 0


@pytest.mark.parametrize("change", ["set_password", "create_agent"])
def test_a_password_change_ends_every_session_of_the_agent(app, change):
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop), log_in(phone)
    agents.create_agent("other@example.com", "other long password")
    other = app.test_client()
    log_in(other, email="other@example.com", password="other long password")
    if change == "set_password":
        agents.set_password(Agent.get(Agent.email == "agnes@example.com"), "a new long password")
    else:  # what `postdesk create-agent` does to reset a password
        agents.create_agent("agnes@example.com", "a new long password")
    assert laptop.get("/").status_code == 302 and phone.get("/").status_code == 302
    assert other.get("/").status_code == 200  # someone else's password changed nothing here
    assert log_in(laptop, password="a new long password").status_code == 302


def test_an_agent_made_inactive_is_out_at_once(app):
    client = app.test_client()
    log_in(client)
    Agent.update(active=False).execute()
    assert client.get("/").status_code == 302


def test_an_idle_session_ends_and_use_is_recorded_once_a_minute(app):
    client = app.test_client()
    log_in(client)
    row = WebSession.get()
    client.get("/")
    assert WebSession.get().last_seen_at == row.last_seen_at  # no write per request

    two_minutes_ago = utcnow() - dt.timedelta(minutes=2)
    WebSession.update(last_seen_at=two_minutes_ago).execute()
    client.get("/")
    assert WebSession.get().last_seen_at > two_minutes_ago

    WebSession.update(last_seen_at=utcnow() - dt.timedelta(minutes=481)).execute()
    assert client.get("/").status_code == 302
    assert app.permanent_session_lifetime == dt.timedelta(minutes=480)


# 5: cookies behind TLS

def test_session_cookie_is_secure_when_configured(app, settings, tmp_path, redis_server):
    secure = create_app(make_settings(tmp_path, redis_server, web={"secure_cookies": True}), testing=True)
    cookie = log_in(secure.test_client()).headers["Set-Cookie"]
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie
    assert "; Secure" not in log_in(app.test_client()).headers["Set-Cookie"]  # off by default


# 6: attachment names

def test_attachment_name_shows_its_real_extension(app):
    message = Message.get()
    part = Attachment.create(message=message, filename="invoice\u202efdp.exe", size=2, sha256="0",
                             data=b"MZ")
    client = app.test_client()
    log_in(client)
    page = client.get(f"/tickets/{message.ticket.number}").get_data(as_text=True)
    assert "\u202e" not in page and ">invoicefdp.exe<" in page
    disposition = client.get(f"/attachments/{part.id}").headers["Content-Disposition"]
    assert disposition == "attachment; filename*=UTF-8''invoicefdp.exe"


@pytest.mark.parametrize(("name", "expected"), [
    ("invoice\u202efdp.exe", "invoicefdp.exe"), ("a\u2066b\u2069\u200e\u200f\u061c.pdf", "ab.pdf"),
    ("report\n.pdf", "report\ufffd.pdf"), ("x\x00\x7f\x85", "x\ufffd\ufffd\ufffd"),
    ("报告.pdf", "报告.pdf"),
    ("نامه\u200cها.txt", "نامه\u200cها.txt"),  # the joiner is spelling, kept
    ("\u202e", "attachment"), ("", "attachment"),
])
def test_visible_name(name, expected):
    assert visible_name(name) == expected


def test_an_image_in_a_clients_mail_never_points_the_agents_browser_at_the_admin(app, settings):
    """An <img src="/dashboard?…"> (or the admin's own absolute address) would be fetched with the
    agent's login each time the ticket is opened: relative addresses go at storage, and at
    display (for mail stored before) with images on the admin's own host. Links stay."""
    from tests.conftest import ingest, signed_in

    raw = (b"From: Mallory <mallory@client.example>\r\nTo: support@example.com\r\nSubject: look\r\n"
           b"Message-ID: <img-1@client.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b'<p>Hello</p><img src="/dashboard?from=0001-01-01&amp;to=9999-12-30"><img src="//evil.example/p.png">'
           b'<a href="/tickets/1/merge">x</a><img src="http://localhost/dashboard/agents.csv">'
           b'<a href="https://cdn.example/help">help</a>')
    ticket = ingest(settings, raw).ticket
    message = Message.get(Message.message_id == "<img-1@client.example>")
    assert "/dashboard?from" not in message.html and "//evil.example" not in message.html
    assert "https://cdn.example/help" in message.html
    Message.update(html='<p>Old</p><img src="http://localhost/dashboard/agents.csv">'
                        '<img src="https://cdn.example/logo.png">').where(Message.id == message.id).execute()
    page = signed_in(app).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "localhost/dashboard" not in page and "https://cdn.example/logo.png" in page  # remote: the agent's choice
    Message.update(html='<p>Old</p><img src="/dashboard?from=0001-01-01">').where(Message.id == message.id).execute()
    page = signed_in(app).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "/dashboard?from" not in page


@pytest.mark.parametrize("path", [
    "/tickets/99999999999999999999", "/customers/99999999999999999999", "/attachments/99999999999999999999",
    "/customers?after=99999999999999999999", "/?assignee=%C2%B2", "/?q=%23%C2%B2", "/?q=%2399999999999999999999",
    "/?assignee=99999999999999999999", "/?after=2026-01-01T00:00:00.000000|99999999999999999999",
])
def test_numbers_no_column_holds_are_no_page_not_a_server_error(app, path):
    from tests.conftest import signed_in

    assert signed_in(app).get(path).status_code in (200, 404)


def test_signed_in_pages_are_not_kept_in_the_browsers_cache(app):
    from tests.conftest import signed_in

    client = signed_in(app)
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/tickets/1").headers["Cache-Control"] == "no-store"
    assert "no-store" not in app.test_client().get("/login").headers.get("Cache-Control", "")


def test_bidi_and_control_characters_never_reach_subjects_and_names(settings):
    from tests.conftest import ingest

    raw = (b"From: =?utf-8?q?Alice_=E2=80=AE?= <alice@client.example>\r\nTo: support@example.com\r\n"
           b"Subject: =?utf-8?Q?Invoice=00=1B[31m=07_=E2=80=AEfdp.exe?=\r\nMessage-ID: <bidi@client.example>\r\n\r\n"
           b"hello\r\n")
    ticket = ingest(settings, raw).ticket
    assert ticket.subject == "Invoice [31m fdp.exe"
    assert ticket.customer.name == "Alice"


def test_invisible_characters_never_reach_addresses(settings):
    """A bidi override in an address would show `billing\u202emoc.elpmaxe@client.example` as an
    address of our own domain on every page; a zero-width space would make a look-alike pass for a
    known client. No mailbox holds them: such an address is no address (a sender without one is
    refused with the reason, and the mail kept), and neither is one with white space."""
    from tests.conftest import ingest

    raw = ("From: Alice <alice@client.example>\r\nTo: support@example.com\r\n"
           "Cc: carol\u2066\u200b@client.example, dave\u00a0@client.example, erin@client.example\r\n"
           "Subject: Invoice\r\nMessage-ID: <bidi-address@client.example>\r\n\r\nhello\r\n").encode()
    ticket = ingest(settings, raw).ticket
    assert [p.customer.email for p in ticket.participants] == ["erin@client.example"]
    spoof = ("From: Billing <billing\u202emoc.elpmaxe@client.example>\r\nTo: support@example.com\r\n"
             "Subject: Invoice\r\nMessage-ID: <bidi-from@client.example>\r\n\r\nhello\r\n").encode()
    ctx = ingest(settings, spoof)
    assert ctx.outcome == "rejected" and Ticket.select().count() == 1
    look_alike = spoof.replace("billing\u202emoc.elpmaxe@client.example".encode(),
                               "alice@client\u200b.example".encode()).replace(b"bidi-from", b"zw-from")
    assert ingest(settings, look_alike).outcome == "rejected"


@pytest.mark.parametrize("source", ["https:\\\\admin.example.com\\dashboard", "http:/dashboard/agents.csv",
                                    "http://local%68ost/dashboard", "http://ｌocalhost/dashboard",
                                    "http://localhost:8080/dashboard", "//localhost/dashboard"])
def test_no_spelling_of_the_admins_own_address_survives_as_an_image(source):
    from mailer import htmltext

    shown = htmltext.clean(f'<p>x</p><img src="{source}">', frozenset({"localhost", "admin.example.com"}))
    assert "src" not in shown

