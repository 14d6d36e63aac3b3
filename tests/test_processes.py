"""Many processes on one database and one Redis (issue 14): two SMTP edges, three workers and two
web processes, each started as an operator starts them (`postdesk smtp`, `worker`, `web`), take a
burst of mail sent to both edges at once; every mail becomes one ticket, numbers without gaps,
every acknowledgement sent once. On SQLite and, in the suite's second run, on PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import smtplib
import subprocess
import sys
import threading
import uuid

import pytest
import requests

from tests import postgres
from tests.conftest import free_port, port_open, to_toml, wait_for

MAILS = 120  # distinct questions, half to each edge
DOUBLES = 10  # of them sent again through the other edge: the same Message-ID, no second ticket


@pytest.fixture
def fleet(tmp_path, redis_server):
    base = {"database": {"url": postgres.database_url(tmp_path, empty=True)},
            "redis": {"url": redis_server, "queue_prefix": f"fleet-{uuid.uuid4().hex[:8]}"},
            "paths": {"var": str(tmp_path / "var")},
            "outgoing": {"folder": str(tmp_path / "sent"), "auto_reply_limit_per_hour": 1000},
            "web": {"secret_key": "fleet test key, not a secret", "workers": 1},
            "mailboxes": [{"address": "support@example.com", "name": "Example Support"}]}
    processes, logs = [], []

    def config(name: str, **sections) -> str:
        data = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        path = tmp_path / f"{name}.toml"
        path.write_text(to_toml(data))
        return str(path)

    def start(name: str, command: str, **sections):
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")}
        processes.append(subprocess.Popen([sys.executable, "-m", "postdesk", "--config", config(name, **sections),
                                           command], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    migrated = subprocess.run([sys.executable, "-m", "postdesk", "--config", config("migrate"), "migrate"],
                              capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    edges, webs = [free_port(), free_port()], [free_port(), free_port()]
    for n, port in enumerate(edges):
        start(f"smtp-{n}", "smtp", smtp={"port": port})
    for n in range(3):
        start(f"worker-{n}", "worker")
    for n, port in enumerate(webs):
        start(f"web-{n}", "web", web={"port": port})
    try:
        wait_for(lambda: all(port_open(p) for p in edges + webs), 60, "both edges and both web processes")
        yield {"edges": edges, "webs": webs, "sent": tmp_path / "sent", "logs": tmp_path}
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in logs:
            log.close()


def question(n: int) -> bytes:
    return (f"From: Client {n} <client{n}@burst.example>\r\nTo: support@example.com\r\n"
            f"Subject: Question number {n}\r\nMessage-ID: <burst-{n}@burst.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, this is question {n}.\r\n").encode()


def test_a_burst_through_two_edges_three_workers_and_two_webs_loses_and_doubles_nothing(fleet):
    failures = []

    def send(port: int, numbers: list[int]):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                for n in numbers:
                    smtp.sendmail(f"client{n}@burst.example", ["support@example.com"], question(n))
        except Exception as exc:  # reported below, with the edge it happened on
            failures.append((port, exc))

    halves = [list(range(0, MAILS, 2)), list(range(1, MAILS, 2))]
    again = [list(range(1, DOUBLES, 2)), list(range(0, DOUBLES, 2))]  # each to the other edge
    senders = [threading.Thread(target=send, args=(port, numbers + extra))
               for port, numbers, extra in zip(fleet["edges"], halves, again, strict=True)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert not failures

    def acknowledgements():
        folder = fleet["sent"]
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in folder.glob("*.eml")] if folder.exists() else []
    wait_for(lambda: len(acknowledgements()) >= MAILS, 120, f"{MAILS} acknowledgements")

    from models.tables import InboundMail, Ticket
    from postdesk import config, runtime
    runtime.init(config.load(fleet["logs"] / "migrate.toml", environ={}))
    try:
        wait_for(lambda: not InboundMail.select().where(InboundMail.state == "received").exists(), 60,
                 "every stored mail processed")
        assert InboundMail.select().count() == MAILS + DOUBLES  # every mail the edges accepted, stored
        numbers = sorted(t.number for t in Ticket.select())
        assert numbers == list(range(1, MAILS + 1))  # one ticket per question, numbers without gaps
        assert Ticket.select().where(Ticket.subject.startswith("Question number")).count() == MAILS
    finally:
        runtime.close()
    acks = acknowledgements()
    assert len(acks) == MAILS  # the doubles got none
    assert sorted(str(a["To"]) for a in acks) == sorted(f"client{n}@burst.example" for n in range(MAILS))
    for port in fleet["webs"]:  # both web processes serve, from the same database
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200
    for log in fleet["logs"].glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
