"""SMTP edge options: STARTTLS, AUTH and the connection limit, over real sockets."""

import smtplib
import ssl
import subprocess

import pytest

from models.tables import InboundMail
from postdesk import config
from tests.conftest import load_eml


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=postdesk.local", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return str(folder / "cert.pem"), str(folder / "key.pem")


def insecure():
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a self-signed test cert
    return context


def send(smtp):
    smtp.sendmail("alice@client.example", ["support@example.com"], load_eml("new_question.eml"))


def test_starttls_is_offered_and_mail_flows_over_it(edge_with, certificate):
    _, edge = edge_with(tls_cert=certificate[0], tls_key=certificate[1], require_tls=True)
    with smtplib.SMTP(edge.hostname, edge.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        smtp.starttls(context=insecure())
        smtp.ehlo()
        send(smtp)
    assert InboundMail.select().count() == 1


def test_require_tls_refuses_plain_text_mail(edge_with, certificate):
    _, edge = edge_with(tls_cert=certificate[0], tls_key=certificate[1], require_tls=True)
    with smtplib.SMTP(edge.hostname, edge.port, timeout=10) as smtp:
        smtp.ehlo()
        code, text = smtp.mail("alice@client.example")
    assert code == 530 and InboundMail.select().count() == 0


def test_auth_required_accepts_the_account_and_refuses_others(edge_with, certificate):
    _, edge = edge_with(tls_cert=certificate[0], tls_key=certificate[1], auth_username="relay",
                     auth_password="relay-secret", auth_required=True)
    with smtplib.SMTP(edge.hostname, edge.port, timeout=10) as smtp:
        smtp.starttls(context=insecure())
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.login("relay", "wrong")
        assert err.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            send(smtp)
        assert err.value.smtp_code == 530
    with smtplib.SMTP(edge.hostname, edge.port, timeout=10) as smtp:
        smtp.starttls(context=insecure())
        smtp.login("relay", "relay-secret")
        send(smtp)
    assert InboundMail.select().count() == 1


def test_connection_limit_answers_421_and_frees_slots(edge_with):
    _, edge = edge_with(max_connections=2)
    first = smtplib.SMTP(edge.hostname, edge.port, timeout=10)
    second = smtplib.SMTP(edge.hostname, edge.port, timeout=10)
    with pytest.raises(smtplib.SMTPConnectError) as err:
        smtplib.SMTP(edge.hostname, edge.port, timeout=10)
    assert err.value.smtp_code == 421
    first.quit()
    with smtplib.SMTP(edge.hostname, edge.port, timeout=10) as third:
        send(third)
    second.quit()
    assert InboundMail.select().count() == 1


@pytest.mark.parametrize("smtp, error", [
    ({"tls_cert": "cert.pem"}, "tls_cert and tls_key go together"),
    ({"require_tls": True}, "needs smtp.tls_cert"),
    ({"auth_required": True}, "needs smtp.auth_username"),
])
def test_inconsistent_smtp_options_stop_start_up(tmp_path, smtp, error):
    with pytest.raises(config.ConfigError, match=error):
        config.from_dict({"smtp": smtp})
