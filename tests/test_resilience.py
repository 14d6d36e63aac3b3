"""A whole `postdesk run` keeps taking and processing mail when a part fails: Redis killed, a
poison mail in the queue. Real SMTP, the embedded Redis, real worker processes."""

import os
import signal
import smtplib
import subprocess
from email.message import EmailMessage

import pytest

from postdesk import embedded_redis
from tests.conftest import free_port, sent, wait_for

pytestmark = pytest.mark.e2e


def question(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Client {n} <client{n}@client.example>"
    mail["To"] = "support@example.com"
    mail["Subject"] = f"Question number {n}"
    mail["Message-ID"] = f"<resilience-{n}@client.example>"
    mail.set_content(f"This is question {n}.\n")
    return mail


def send(port: int, *mails) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for mail in mails:
            smtp.send_message(mail)


def redis_pids(var) -> set[int]:
    found = subprocess.run(["pgrep", "-f", f"{var}/redis"], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def acknowledged(var) -> set[str]:
    return {str(mail["In-Reply-To"]) for mail in sent(var)}


def test_a_killed_embedded_redis_is_restarted_and_mail_flows_again(postdesk):
    var = postdesk["var"]
    send(postdesk["smtp"], question(0))
    wait_for(lambda: acknowledged(var) == {"<resilience-0@client.example>"}, 60, "the first ack")
    [first_redis] = redis_pids(var)
    os.kill(first_redis, signal.SIGKILL)
    wait_for(lambda: redis_pids(var) - {first_redis}, 30, "a new Redis")
    send(postdesk["smtp"], question(1))
    wait_for(lambda: len(acknowledged(var)) == 2, 60, "the ack after the restart")
    assert "redis exited with -9; restarting" in postdesk["log"].read_text()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of the test's own, on a fixed port, that the test may kill and start again."""
    port = free_port()
    folder = tmp_path / "redis"
    state = {"process": embedded_redis.start(folder, port=port)}
    yield {"url": f"redis://127.0.0.1:{port}/0", "port": port, "folder": folder, "state": state}
    if state["process"].poll() is None:
        embedded_redis.stop(state["process"])


@pytest.mark.postdesk_config(worker={"stale_after_seconds": 2, "sweep_interval_seconds": 1})
def test_mail_is_processed_from_the_database_while_redis_is_away(own_redis, request, tmp_path):
    request.node.add_marker(pytest.mark.postdesk_config(redis={"url": own_redis["url"]}))
    run = request.getfixturevalue("postdesk")
    var = run["var"]
    send(run["smtp"], question(0))
    wait_for(lambda: acknowledged(var) == {"<resilience-0@client.example>"}, 60, "the first ack")

    own_redis["state"]["process"].kill()  # and it stays away
    own_redis["state"]["process"].wait()
    send(run["smtp"], *[question(n) for n in range(1, 6)])  # still 250: stored in the database
    wanted = {f"<resilience-{n}@client.example>" for n in range(6)}
    wait_for(lambda: acknowledged(var) == wanted, 60, "acknowledgements sent without Redis")

    own_redis["state"]["process"] = embedded_redis.start(own_redis["folder"], port=own_redis["port"])
    send(run["smtp"], question(6))
    wait_for(lambda: "<resilience-6@client.example>" in acknowledged(var), 60, "the ack with Redis back")
    assert len(sent(var)) == 7  # one acknowledgement each: nothing lost, nothing doubled
    assert "taking work from the database" in run["log"].read_text()


def poison_html(size: int) -> EmailMessage:
    """HTML-only mail of unclosed tags: quadratic for the standard library's html.parser."""
    mail = EmailMessage()
    mail["From"] = "Mallory <mallory@attacker.example>"
    mail["To"] = "support@example.com"
    mail["Subject"] = "Poison"
    mail["Message-ID"] = "<poison@attacker.example>"
    mail.set_content("<html><body>" + "<a \n" * (size // 4), subtype="html")
    return mail


def test_a_poison_mail_does_not_hold_up_the_mail_behind_it(postdesk):
    var = postdesk["var"]
    send(postdesk["smtp"], poison_html(300_000), *[question(n) for n in range(10)])
    wanted = {"<poison@attacker.example>"} | {f"<resilience-{n}@client.example>" for n in range(10)}
    # With html.parser this took over seven minutes; every one of them is a ticket within a minute.
    wait_for(lambda: acknowledged(var) == wanted, 60, "eleven acknowledgements")
