"""`postdesk backup PATH`: a whole, checked copy of the database while mail keeps being stored."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time

from mailer import spool
from models import migrations
from models.base import db, open_database
from models.tables import InboundMail
from postdesk import config, runtime
from tests.conftest import free_port, ingest, make_settings


def postdesk(settings_source: str, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postdesk", "--config", settings_source, *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_backup_taken_while_another_connection_writes_is_whole_and_usable(settings, tmp_path):
    ingest(settings, "new_question.eml")
    filler = b"x" * 50_000
    InboundMail.insert_many([{"raw": filler, "size": len(filler), "source": "import", "state": "processed",
                              "message_id": f"<filler-{n}@x>"} for n in range(400)]).execute()  # 20 MB to copy
    stop, written = threading.Event(), []

    def keep_storing():  # its own connection: peewee opens one per thread
        while not stop.is_set():
            raw = f"From: c@client.example\r\nMessage-ID: <w-{len(written)}@x>\r\n\r\nhi\r\n".encode()
            written.append(spool.store(raw, "smtp"))
        db.close()

    writer = threading.Thread(target=keep_storing)
    writer.start()
    try:
        while len(written) < 20:  # writing before the backup starts…
            time.sleep(0.01)
        before = len(written)
        done = postdesk(settings.source, "backup", str(tmp_path / "backup.db"))
        after = len(written)
        time.sleep(0.2)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    assert after > before and len(written) > after  # …while it ran, and after: nobody waited for it
    if not settings.database.url.startswith("sqlite"):  # PostgreSQL: pg_dump's archive, read back by pg_restore
        assert "pg_dump custom format" in done.stdout
        listing = subprocess.run(["pg_restore", "--list", str(tmp_path / "backup.db")], capture_output=True,
                                 text=True, check=True).stdout
        assert "TABLE DATA public inbound_mail" in listing and "TABLE DATA public ticket" in listing
        return
    assert "integrity ok" in done.stdout

    with contextlib.closing(sqlite3.connect(tmp_path / "backup.db")) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal to carry
        stored = copy.execute("SELECT COUNT(*) FROM inbound_mail WHERE message_id LIKE '<w-%'").fetchone()[0]
    assert before <= stored <= after  # the database as of one moment
    assert not list(tmp_path.glob(".*.partial"))

    runtime.close()  # Postdesk opens the copy as its database: the schema is current, the ticket there
    restored = config.from_dict({"database": {"url": f"sqlite:///{tmp_path / 'backup.db'}"},
                                 "mailboxes": [{"address": "support@example.com"}]}, base_dir=str(tmp_path))
    open_database(restored)
    assert migrations.is_current()
    from models.tables import Ticket
    assert Ticket.select().count() == 1
    db.close()

    again = postdesk(settings.source, "backup", str(tmp_path / "backup.db"))
    assert again.returncode == 73 and "exists already" in again.stderr  # a backup is never overwritten


def test_postgresql_is_backed_up_with_pg_dump_or_told_how(tmp_path, redis_server):
    url = f"postgresql://postdesk:s3cret@127.0.0.1:{free_port()}/postdesk"  # nobody listens there
    settings = make_settings(tmp_path, redis_server, database={"url": url})
    no_tools = {"PATH": "/nonexistent", "HOME": str(tmp_path)}
    told = postdesk(settings.source, "backup", str(tmp_path / "pg.dump"), env=no_tools)
    assert told.returncode == 69 and "pg_dump --format=custom" in told.stderr
    assert "s3cret" not in told.stderr  # the password is never printed
    import shutil
    if shutil.which("pg_dump"):
        failed = postdesk(settings.source, "backup", str(tmp_path / "pg.dump"))
        assert failed.returncode == 1 and "pg_dump failed" in failed.stderr and "s3cret" not in failed.stderr
    assert not list(tmp_path.glob("*pg.dump*"))
