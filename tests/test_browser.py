"""The admin's key flows in a real browser: Debian's chromium driven by Playwright."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from mailer import pipeline, spool
from models import agents
from tests.conftest import free_port, load_eml
from web import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("POSTDESK_REQUIRE_SERVICES"):
            pytest.fail("chromium is not installed (make test installs Debian's chromium)")
        pytest.skip("chromium is not installed; `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def admin(settings, tmp_path):
    agents.create_agent("agnes@example.com", "correct horse battery", name="Agnes")
    for name in ("new_question.eml", "chinese_gbk_question.eml", "html_only_with_inline_image.eml"):
        pipeline.process(settings, spool.store(load_eml(name), "smtp"))
    server = make_server("127.0.0.1", free_port(), create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_log_in_see_the_queue_open_a_thread_and_log_out(browser, admin, tmp_path):
    page = browser.new_page()
    page.goto(admin + "/tickets/1")
    assert "/login" in page.url  # sent to the login page first
    page.fill("input[name=email]", "agnes@example.com")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "Unknown address or wrong password."
    page.fill("input[name=email]", "agnes@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    assert page.url.endswith("/tickets/1")  # back where the agent wanted to go
    assert page.get_by_text("Since this morning I cannot log in").is_visible()

    page.locator("header").get_by_role("link", name="Tickets").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 3
    assert page.get_by_text("发票金额不对").is_visible()  # Chinese subject from GBK mail
    page.screenshot(path=str(tmp_path / "queue.png"))

    page.get_by_role("link", name="Screenshot of the error").click()
    assert page.url.endswith("/tickets/3")
    assert page.locator(".threaded-by").first.inner_text() == "new"
    page.get_by_text("Formatted (HTML)").click()
    image = page.locator(".html img")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1  # the cid: image loads
    page.screenshot(path=str(tmp_path / "ticket.png"), full_page=True)

    page.get_by_role("button", name="Log out").click()
    assert "/login" in page.url
    page.goto(admin + "/")
    assert "/login" in page.url


def test_reply_with_an_attachment_set_pending_and_assign_in_the_browser(browser, admin, settings, tmp_path):
    import email
    import email.policy

    from models.tables import Outbox, Ticket
    from tests.conftest import run_worker, sent_mail

    page = browser.new_page()
    page.goto(admin + "/login?next=/tickets/1")
    page.fill("input[name=email]", "agnes@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    assert page.url.endswith("/tickets/1")
    page.fill("#reply-text", "Hello Alice,\n\nI have unlocked your account; please try again.")
    attachment = tmp_path / "说明.txt"
    attachment.write_text("1. Open the login page\n", encoding="utf-8")
    page.set_input_files("input[name=attachments]", str(attachment))
    page.get_by_role("button", name="Send reply").click()
    page.select_option("select[name=status]", "pending")
    page.locator("form", has=page.locator("select[name=status]")).get_by_role("button").click()
    page.select_option("select[name=agent]", "agnes@example.com")
    page.get_by_role("button", name="Assign").click()
    assert page.get_by_text("I have unlocked your account").is_visible()
    page.screenshot(path=str(tmp_path / "replied.png"), full_page=True)

    ticket = Ticket.get(Ticket.number == 1)
    assert (ticket.status, ticket.assignee.email) == ("pending", "agnes@example.com")
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 1
    run_worker(settings)
    [reply] = [m for m in (email.message_from_bytes(raw, policy=email.policy.default) for raw in sent_mail(settings))
               if "unlocked" in str(m.get_body().get_content())]
    assert (str(reply["From"]), reply["To"]) == ("Example Support <support@example.com>", "alice@client.example")
    assert reply["In-Reply-To"] == "<new-question-1@client.example>"
    assert str(reply["Subject"]) == "[#1] Cannot log in to my account"
    assert [a.get_filename() for a in reply.iter_attachments()] == ["说明.txt"]


SHOTS = Path(__file__).resolve().parent.parent / "test-output"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_find_a_breached_ticket_answer_assign_resolve_merge_split_and_see_the_dashboard(browser, admin, language):
    """The day's work in a real browser, in English and in Chinese (the browser's language):
    screenshots of each page go to test-output/."""
    import datetime as dt

    from models.base import utcnow
    from models.tables import Ticket

    Ticket.update(sla_due=utcnow() - dt.timedelta(minutes=20)).where(Ticket.number == 2).execute()
    words = {"en": {"breached": "Breached", "send": "Send reply", "assign": "Assign", "set": "Set",
                    "thread": "Thread", "dashboard": "Dashboard", "merge": "Merge", "split": "Split into a new ticket"},
             "zh": {"breached": "已超时", "send": "发送回复", "assign": "指派", "set": "设置",
                    "thread": "往来邮件", "dashboard": "仪表盘", "merge": "合并", "split": "拆分为新工单"}}[language]
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_context(locale="zh-CN" if language == "zh" else "en-GB").new_page()
    page.goto(admin + "/login")
    page.fill("input[name=email]", "agnes@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.get_by_role("link", name=words["breached"]).click()
    page.wait_for_url("**queue=breached*")
    page.screenshot(path=str(SHOTS / f"queue-breached-{language}.png"), full_page=True)
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and ("overdue" if language == "en" else "已超时") in rows.inner_text()
    rows.locator("a").first.click()
    page.wait_for_url("**/tickets/2")
    page.get_by_role("heading", name=words["thread"]).wait_for()
    page.fill("#reply-text", "您好，发票已经重新开具。" if language == "zh" else "Hello, the invoice is corrected.")
    page.get_by_role("button", name=words["send"]).click()
    page.select_option("select[name=agent]", "agnes@example.com")
    page.get_by_role("button", name=words["assign"]).click()
    page.select_option("select[name=status]", "resolved")
    page.locator("form", has=page.locator("select[name=status]")).get_by_role("button", name=words["set"]).click()
    page.screenshot(path=str(SHOTS / f"ticket-{language}.png"), full_page=True)
    ticket = Ticket.get(Ticket.number == 2)
    assert (ticket.status, ticket.assignee.email, ticket.first_responded_at is not None) == (
        "resolved", "agnes@example.com", True)
    # Ticket #3 is a second question from the same client: merge it into #2; then split its
    # message off again into a ticket of its own.
    page.goto(admin + "/tickets/3")
    page.fill("input[name=into]", "2")
    page.get_by_role("button", name=words["merge"], exact=True).click()
    page.wait_for_url("**/tickets/2")
    assert page.url.endswith("/tickets/2") and Ticket.get(Ticket.number == 3).merged_into_id == ticket.id
    page.get_by_role("button", name=words["split"]).last.click()
    page.wait_for_url("**/tickets/4")
    assert page.url.endswith("/tickets/4") and Ticket.get(Ticket.number == 4).customer.email == "maria@client.example"
    page.screenshot(path=str(SHOTS / f"split-{language}.png"), full_page=True)
    page.get_by_role("link", name=words["dashboard"]).click()
    page.wait_for_url("**/dashboard")
    charts = page.locator("svg.chart")
    assert charts.count() >= 8
    assert all(charts.nth(i).bounding_box()["width"] > 100 for i in range(charts.count()))  # drawn, not empty
    page.screenshot(path=str(SHOTS / f"dashboard-{language}.png"), full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=str(SHOTS / f"dashboard-print-{language}.png"), full_page=True)
