"""The admin in English and 简体中文: each agent's choice, else their browser's; dates in the
agent's time zone; every catalog entry translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from mailer import pipeline, spool
from models.tables import Agent, Ticket
from tests.conftest import csrf_token, load_eml, signed_in
from web import create_app

CATALOG = Path(__file__).resolve().parent.parent / "web" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


@pytest.fixture
def app(settings, cast):
    pipeline.process(settings, spool.store(load_eml("new_question.eml"), "smtp"))
    return create_app(settings, testing=True)


def test_every_message_of_the_admin_has_a_chinese_translation_with_the_same_placeholders():
    import re

    catalog = read_po(CATALOG.open("rb"))
    entries = [m for m in catalog if m.id]
    assert len(entries) > 250
    for m in entries:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings), f"untranslated: {ids[0]!r}"
        assert set(re.findall(r"%\(\w+\)", ids[0])) == set(re.findall(r"%\(\w+\)", strings[0])), ids[0]


def test_the_browser_language_is_used_until_the_agent_chooses(app):
    chinese = app.test_client().get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in chinese.get_data(as_text=True)
    assert ">Log in<" in app.test_client().get("/login", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    client = signed_in(app)
    page = client.get("/?queue=unassigned", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "未指派" in page and 'lang="zh-CN"' in page and "新建" in page  # the status, translated too


def test_an_agents_language_and_time_zone_apply_to_every_page(app):
    client = signed_in(app)
    response = client.post("/profile", data={"csrf_token": csrf_token(client, "/profile"), "notices": "on",
                                             "language": "zh", "timezone": "Asia/Shanghai"})
    assert response.status_code == 302
    agnes = Agent.get(Agent.email == "agnes@example.com")
    assert (agnes.language, agnes.timezone) == ("zh", "Asia/Shanghai")
    ticket = Ticket.get()
    page = client.get(f"/tickets/{ticket.number}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    local = (ticket.created_at.replace(tzinfo=__import__("datetime").UTC)
             .astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")))
    assert "往来邮件" in page and "发送回复" in page and local.strftime("%Y-%m-%d %H:%M") in page
    assert "Asia/Shanghai" in page
    for path in ("/", "/customers", "/dashboard", "/outbox", "/inbound", "/status", "/profile", "/organisations"):
        assert client.get(path).status_code == 200, path
    bad = client.post("/profile", data={"csrf_token": csrf_token(client, "/profile"), "language": "zh",
                                        "timezone": "Mars/Olympus"})
    assert bad.status_code == 302 and "未知的语言或时区" in client.get("/profile").get_data(as_text=True)
    assert Agent.get(Agent.email == "agnes@example.com").timezone == "Asia/Shanghai"


def test_a_refusal_is_said_in_the_agents_language_and_in_english_to_mail_and_logs(app):
    from actions import tickets as act
    from actions.result import Refused

    ticket = Ticket.get()
    with pytest.raises(Refused) as refused:
        act.set_priority(ticket, "whenever", settings=app.config["POSTDESK"], actor=Agent.get(), via="web")
    assert str(refused.value) == "unknown priority 'whenever': use one of low, normal, high, urgent"
    client = signed_in(app)
    token = csrf_token(client, f"/tickets/{ticket.number}")
    client.post(f"/tickets/{ticket.number}/priority", data={"csrf_token": token, "priority": "whenever"},
                headers={"Accept-Language": "zh-CN"})
    page = client.get(f"/tickets/{ticket.number}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "未知优先级 &#39;whenever&#39;：请用 low, normal, high, urgent 之一" in page
