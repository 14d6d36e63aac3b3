"""Postdesk installed as a package: a wheel built from this checkout, installed in a fresh
virtual environment, runs a mail through from a folder that is not the checkout."""

from __future__ import annotations

import email
import email.policy
import sqlite3
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import text_of

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def run(*args, cwd=None, **kwargs):
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_carries_templates_and_defaults_and_processes_a_mail(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp_path / "dist", ROOT)
    [wheel] = (tmp_path / "dist").glob("postdesk-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)

    site = tmp_path / "site"  # a folder of its own: nothing of the checkout is in reach
    site.mkdir()
    shipped = env_dir / "share" / "postdesk" / "config.toml"
    assert shipped.is_file()
    deploy = env_dir / "share" / "postdesk" / "deploy"  # docs/deployment.md's files, beside the defaults
    assert {p.relative_to(deploy).as_posix() for p in deploy.rglob("*") if p.is_file()} == {
        p.relative_to(ROOT / "deploy").as_posix() for p in (ROOT / "deploy").rglob("*") if p.is_file()}
    (site / "config.toml").write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    (site / "mail").mkdir()
    (site / "mail" / "question.eml").write_bytes(
        "From: 李明 <li@client.example>\r\nTo: support@example.com\r\nSubject: 无法登录\r\n"
        "Message-ID: <pkg-1@client.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "我无法登录。\r\n".encode())
    postdesk = env_dir / "bin" / "postdesk"
    run(postdesk, "migrate", cwd=site)
    imported = run(postdesk, "import", "mail", cwd=site)
    assert "1 new_ticket" in imported.stderr

    with sqlite3.connect(site / "var" / "postdesk.db") as db:
        [(subject,)] = db.execute("SELECT subject FROM ticket").fetchall()
        [(raw,)] = db.execute("SELECT raw FROM outbox WHERE kind = 'acknowledgement'").fetchall()
    ack = email.message_from_bytes(raw, policy=email.policy.default)
    assert subject == "无法登录" and "我们已收到您的请求" in text_of(ack)  # templates, in the client's language
    assert "我们已收到您的请求" in ack.get_body(("html",)).get_content()  # the HTML layout ships too
    page = run(python, "-c", "from postdesk import config; from web import create_app; "
               "app = create_app(config.load('config.toml'), testing=True); "
               "print(app.test_client().get('/login').get_data(as_text=True))", cwd=site)
    assert "password" in page.stdout.lower()
