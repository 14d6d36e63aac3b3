"""The queue pages: named queues with their counts, filters, search in English and Chinese,
keyset paging, and bulk changes through the single-ticket actions."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from mailer import pipeline, spool
from models.base import utcnow
from models.tables import Agent, Customer, Event, Ticket
from tests.conftest import csrf_token, load_eml, signed_in
from web import create_app


def mail(n: int, subject: str, text: str = "Hello.", sender: str = "alice@client.example") -> bytes:
    return (f"From: Client {n} <{sender}>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <q{n}@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()


@pytest.fixture
def app(settings, cast):
    pipeline.process(settings, spool.store(load_eml("chinese_gbk_question.eml"), "smtp"))  # #1, 发票
    for n, (subject, text) in enumerate([("Invoices missing", "Where are my invoices?"),
                                         ("VPN <script>alert(1)</script>", "It drops every hour."),
                                         ("Printer", "打印机无法连接，错误代码 E42。")], start=2):
        pipeline.process(settings, spool.store(mail(n, subject, text), "smtp"))
    return create_app(settings, testing=True)


def numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'name="ticket" value="(\d+)"', page)]


def test_queues_hold_what_their_names_say_with_counts(app):
    agnes = Agent.get(Agent.email == "agnes@example.com")
    now = utcnow()
    Ticket.update(assignee=agnes, status="open").where(Ticket.number == 2).execute()
    Ticket.update(status="pending").where(Ticket.number == 3).execute()
    Ticket.update(sla_due=now - dt.timedelta(minutes=5)).where(Ticket.number == 4).execute()
    Ticket.update(sla_due=now + dt.timedelta(minutes=30)).where(Ticket.number == 1).execute()
    client = signed_in(app)
    expected = {"unassigned": [1, 4], "mine": [2], "due_soon": [1], "breached": [4], "waiting": [3], "resolved": []}
    for queue, tickets in expected.items():
        page = client.get(f"/?queue={queue}").get_data(as_text=True)
        assert sorted(numbers(page)) == tickets, queue
    page = client.get("/").get_data(as_text=True)
    assert 'Unassigned<span class="count">2<' in page and 'Breached<span class="count">1<' in page
    assert "VPN &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert client.get("/?queue=nope").status_code == 404


@pytest.mark.parametrize(("query", "found"), [
    ("发票", [1]), ("invoic", [2]), ("INVOICES", [2]), ("打印机 E42", [4]), ("连接", [4]), ("#3", [3]),
    ("every hour", [3]), ("发票 invoices", []), ("nothing-like-this", []), ("\"*(", []),
])
def test_search_finds_chinese_and_english_words_in_subjects_and_messages(app, query, found):
    page = signed_in(app).get("/", query_string={"q": query}).get_data(as_text=True)
    assert sorted(numbers(page)) == found


def test_filters_narrow_the_queue(app):
    Ticket.update(priority="urgent").where(Ticket.number == 3).execute()
    client = signed_in(app)
    assert numbers(client.get("/?priority=urgent").get_data(as_text=True)) == [3]
    assert sorted(numbers(client.get("/?mailbox=zh@example.cn").get_data(as_text=True))) == [1]
    assert sorted(numbers(client.get("/?assignee=none&status=new").get_data(as_text=True))) == [1, 2, 3, 4]
    Customer.update(tier="vip").where(Customer.email == "alice@client.example").execute()
    assert sorted(numbers(client.get("/?tier=vip").get_data(as_text=True))) == [2, 3, 4]
    assert numbers(client.get("/?tier=vip&priority=urgent").get_data(as_text=True)) == [3]
    assert numbers(client.get("/?tier=vip&q=invoices").get_data(as_text=True)) == [2]
    assert numbers(client.get("/?tier=basic").get_data(as_text=True)) == []


def test_pages_follow_each_other_by_keyset_without_gaps_or_repeats(app, settings):
    for n in range(5, 125):
        pipeline.process(settings, spool.store(mail(n, f"Question {n}"), "smtp"))
    client = signed_in(app)
    for sort in ("updated", "due"):
        seen, url = [], f"/?sort={sort}"
        while url:
            page = client.get(url).get_data(as_text=True)
            seen += numbers(page)
            found = re.search(r'<a href="([^"]+)">Next 50', page)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert len(seen) == 124 and sorted(seen) == list(range(1, 125)), sort


def test_bulk_changes_go_through_the_actions_and_name_each_refusal(app):
    client = signed_in(app)
    bob = Agent.get(Agent.email == "bob@example.com")
    token = csrf_token(client, "/")
    client.post("/tickets/bulk", data={"csrf_token": token, "ticket": ["2", "3"], "change": "assignee",
                                       "value": str(bob.id), "back": "/?queue=unassigned"})
    assert [t.assignee_id for t in Ticket.select().where(Ticket.number.in_([2, 3]))] == [bob.id, bob.id]
    assert Event.select().where(Event.action == "assignee").count() == 2
    Ticket.update(status="open").where(Ticket.number == 2).execute()
    response = client.post("/tickets/bulk", data={"csrf_token": token, "ticket": ["2", "3"], "change": "status",
                                                  "value": "new", "back": "https://evil.example/"})
    assert response.headers["Location"] == "/"  # only our own paths
    page = client.get("/").get_data(as_text=True)
    assert "#2: a ticket that has been worked on cannot become new again" in page and "1 ticket changed." in page
    unsigned = client.post("/tickets/bulk", data={"ticket": ["4"], "change": "status", "value": "pending"})
    assert unsigned.status_code == 400  # no CSRF token
    assert Ticket.get(Ticket.number == 4).status == "new"


def test_pages_of_a_queue_over_several_statuses_come_in_its_order_without_gaps_or_repeats(app, settings):
    """Each status is read apart, in the page's order, and the pieces merged: across pages the
    whole queue must still come out in one order, each ticket once, with and without filters."""
    for n in range(5, 125):
        pipeline.process(settings, spool.store(mail(n, f"Question {n}"), "smtp"))
    now, statuses = utcnow(), ("new", "open", "pending", "resolved", "closed")
    for ticket in Ticket.select():
        Ticket.update(status=statuses[ticket.number % 5], priority=("urgent", "normal")[ticket.number % 3 == 0],
                      sla_due=None if ticket.number % 4 == 0 else now + dt.timedelta(minutes=(ticket.number * 37) % 90),
                      updated_at=now - dt.timedelta(seconds=(ticket.number * 53) % 200)) \
            .where(Ticket.id == ticket.id).execute()
    tickets = list(Ticket.select())
    expected = {
        "/?queue=all&sort=due": sorted(tickets, key=lambda t: (t.sla_due or dt.datetime.max, t.id)),
        "/?queue=unassigned": sorted((t for t in tickets if t.status in ("new", "open")),
                                     key=lambda t: (t.sla_due or dt.datetime.max, t.id)),
        "/?queue=all&sort=updated&priority=urgent": sorted((t for t in tickets if t.priority == "urgent"),
                                                           key=lambda t: (t.updated_at, t.id), reverse=True),
        "/?queue=all&sort=updated": sorted(tickets, key=lambda t: (t.updated_at, t.id), reverse=True),
    }
    client = signed_in(app)
    for start, order in expected.items():
        seen, url = [], start
        while url:
            page = client.get(url).get_data(as_text=True)
            seen += numbers(page)
            found = re.search(r'<a href="([^"]+)">Next 50', page)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert seen == [t.number for t in order], start


def test_a_search_is_sorted_and_filtered_like_its_queue(app):
    Ticket.update(status="open", priority="urgent").where(Ticket.number == 2).execute()
    Ticket.update(status="resolved").where(Ticket.number == 3).execute()
    client = signed_in(app)
    assert numbers(client.get("/?queue=unassigned&q=invoices").get_data(as_text=True)) == [2]
    assert numbers(client.get("/?queue=resolved&q=invoices").get_data(as_text=True)) == []
    assert numbers(client.get("/?priority=urgent&q=invoices").get_data(as_text=True)) == [2]
    assert numbers(client.get("/?priority=low&q=invoices").get_data(as_text=True)) == []


def test_a_search_matching_more_tickets_than_it_reads_says_so(app, settings, monkeypatch):
    from models import search
    monkeypatch.setattr(search, "MATCHES", 2)
    for n in range(5, 9):
        pipeline.process(settings, spool.store(mail(n, f"Invoice {n}", "Invoice attached."), "smtp"))
    page = signed_in(app).get("/?q=invoice").get_data(as_text=True)
    assert numbers(page) == [8, 7] and "add a word to narrow it down" in page  # the newest matches
    assert "narrow it down" not in signed_in(app).get("/?q=invoices").get_data(as_text=True)


def test_a_long_thread_shows_its_newest_messages_and_the_rest_one_click_away(app, settings):
    for n in range(2, 41):  # the client's replies to ticket #2, by its tag
        pipeline.process(settings, spool.store(mail(1000 + n, "Re: [#2] Invoices missing", f"Reply number {n}.")
                                               .replace(b"Hello.", b""), "smtp"))
    ticket = Ticket.get(Ticket.number == 2)
    assert ticket.messages.count() == 40
    client = signed_in(app)
    page = client.get("/tickets/2").get_data(as_text=True)
    assert page.count('<article class="message') == 30 and "Reply number 40." in page
    assert "Reply number 10." not in page and "Show 10 earlier messages" in page
    everything = client.get("/tickets/2?thread=all").get_data(as_text=True)
    assert everything.count('<article class="message') == 40 and "Where are my invoices?" in everything
