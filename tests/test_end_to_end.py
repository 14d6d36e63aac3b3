"""`postdesk run` as a user starts it: real SMTP in, embedded Redis, worker, mail out, admin web."""

import email
import email.policy
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest
import requests

from tests.conftest import free_port, to_toml

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port):
    try:
        import socket
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def postdesk(tmp_path):
    smtp_port, web_port = free_port(), free_port()
    config = tmp_path / "config.toml"
    config.write_text(to_toml({
        "smtp": {"port": smtp_port}, "web": {"port": web_port, "workers": 1},
        "mailboxes": [{"address": "support@example.com", "name": "Example Support"}],
    }))
    env = dict(os.environ, POSTDESK_CONFIG=str(config))
    env.pop("POSTDESK_REDIS_URL", None)
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "postdesk", "run"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: port_open(smtp_port) and port_open(web_port), 60, "SMTP and web ports")
        yield {"smtp": smtp_port, "web": f"http://127.0.0.1:{web_port}", "env": env,
               "var": tmp_path / "var", "process": process, "log": tmp_path / "run.log"}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def sent(var):
    folder = var / "sent"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def test_mail_in_acknowledgement_out_reply_threads_admin_shows_it_ctrl_c_stops(postdesk):
    question = EmailMessage()
    question["From"] = "Alice Martin <alice@client.example>"
    question["To"] = "support@example.com"
    question["Subject"] = "Printer on fire"
    question["Message-ID"] = "<e2e-question@client.example>"
    question.set_content("The office printer is on fire. Please advise.\n")
    with smtplib.SMTP("127.0.0.1", postdesk["smtp"], timeout=10) as smtp:
        smtp.send_message(question)

    [ack] = wait_for(lambda: sent(postdesk["var"]), what="the acknowledgement in var/sent")
    assert str(ack["Subject"]) == "[#1] Printer on fire"
    assert ack["In-Reply-To"] == "<e2e-question@client.example>"
    assert "ticket #1" in ack.get_content()

    reply = EmailMessage()  # what a mail client makes of "Reply" on the acknowledgement
    reply["From"] = "Alice Martin <alice@client.example>"
    reply["To"] = str(ack["From"])
    reply["Subject"] = "Re: " + str(ack["Subject"])
    reply["Message-ID"] = "<e2e-reply@client.example>"
    reply["In-Reply-To"] = ack["Message-ID"]
    reply["References"] = f"{ack['References']} {ack['Message-ID']}"
    reply.set_content("It is out now, but the paper tray melted.\n\n> The office printer is on fire.\n")
    with smtplib.SMTP("127.0.0.1", postdesk["smtp"], timeout=10) as smtp:
        smtp.send_message(reply)

    created = subprocess.run([sys.executable, "-m", "postdesk", "create-agent", "--admin",
                              "--password-stdin", "boss@example.com"], input="long enough pw\n",
                             env=postdesk["env"], capture_output=True, text=True)
    assert created.returncode == 0, created.stderr

    web = requests.Session()
    login_page = web.get(postdesk["web"] + "/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    listing = web.post(postdesk["web"] + "/login", data={
        "email": "boss@example.com", "password": "long enough pw", "csrf_token": token})
    assert listing.status_code == 200 and "Printer on fire" in listing.text

    def thread_complete():
        page = web.get(postdesk["web"] + "/tickets/1").text
        return page if "the paper tray melted" in page else None

    page = wait_for(thread_complete, what="the reply on ticket #1")
    assert "The office printer is on fire" in page
    assert 'class="threaded-by">header<' in page
    assert web.get(postdesk["web"] + "/tickets/2").status_code == 404  # no second ticket
    assert len(sent(postdesk["var"])) == 1  # the follow-up is not acknowledged again

    process = postdesk["process"]
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    assert process.wait(timeout=30) == 0
    log = postdesk["log"].read_text()
    assert "SMTP in" in log and "admin web   http://127.0.0.1" in log and "Postdesk stopped." in log
    assert not port_open(postdesk["smtp"]) and not port_open(int(postdesk["web"].rsplit(":", 1)[1]))
    leftovers = subprocess.run(["pgrep", "-f", str(postdesk["var"])], capture_output=True, text=True)
    assert leftovers.stdout == ""  # the embedded Redis is gone too
