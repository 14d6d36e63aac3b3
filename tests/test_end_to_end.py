"""`postdesk run` as a user starts it: real SMTP in, embedded Redis, worker, mail out, admin web."""

import os
import re
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage

import pytest
import requests

from tests.conftest import port_open, sent, text_of, wait_for

pytestmark = pytest.mark.e2e


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
    assert "ticket #1" in text_of(ack)

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
