"""Attachments kept outside the database: large ones in a configured folder by content hash, read
back byte for byte, shared between mails carrying the same file, and nothing left orphaned."""

import email.message
import email.policy
import hashlib
import io
import os
import subprocess
import sys
import time

import pytest

from models import attachments, migrations
from models.tables import Attachment, InboundMail, Message, Ticket
from postdesk import config, runtime
from tests.conftest import csrf_token, ingest, make_settings, run_worker, sent_mail, signed_in
from web import create_app

REPORT = bytes(range(256)) * 40  # 10,240 bytes: over the test's threshold
LOGO = b"\x89PNG\r\n\x1a\n" + b"logo" * 50  # 208 bytes: under it


@pytest.fixture
def settings(tmp_path, redis_server):
    """Overrides conftest's (so `cast` and the rest use it too): this installation keeps
    attachments of 4 KB and more in a folder."""
    settings = make_settings(tmp_path, redis_server, attachments={
        "store": "folder", "folder": str(tmp_path / "files"), "min_bytes": 4096})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    yield settings
    runtime.close()


def mail_with(*files: tuple[str, str, bytes], message_id: str, sender="dora@client.example") -> bytes:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@example.com", "Crash report"
    msg["Message-ID"] = f"<{message_id}@client.example>"
    msg.set_content("The report is attached.")
    for name, content_type, data in files:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def stored_files(settings) -> list[str]:
    return sorted(digest for digest, _ in attachments.FolderStore(settings.path(settings.attachments.folder)).names())


def test_large_attachments_go_to_the_folder_once_per_content_and_download_byte_for_byte(settings, cast):
    ingest(settings, mail_with(("report.bin", "application/octet-stream", REPORT),
                                      ("logo.png", "image/png", LOGO), message_id="first"))
    ingest(settings, mail_with(("same-report.bin", "application/octet-stream", REPORT),
                                      message_id="second", sender="erik@other.example"))
    assert Ticket.select().count() == 2
    digest = hashlib.sha256(REPORT).hexdigest()
    assert stored_files(settings) == [digest]  # two mails, one file
    large = list(Attachment.select().where(Attachment.sha256 == digest))
    assert len(large) == 2 and all(a.in_store and bytes(a.data) == b"" and a.size == len(REPORT) for a in large)
    small = Attachment.get(Attachment.filename == "logo.png")
    assert not small.in_store and bytes(small.data) == LOGO  # under min_bytes: in the database

    client = signed_in(create_app(settings, testing=True))
    for row in [*large, small]:
        response = client.get(f"/attachments/{row.id}")
        assert response.status_code == 200
        assert response.data == (REPORT if row.in_store else LOGO)


def test_by_default_every_attachment_stays_in_the_database(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server)
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    ingest(settings, mail_with(("report.bin", "application/octet-stream", REPORT), message_id="default"))
    row = Attachment.get()
    assert not row.in_store and bytes(row.data) == REPORT
    assert not settings.path(settings.attachments.folder).exists()
    runtime.close()


def test_a_staff_reply_with_a_large_file_stores_it_once_and_the_client_receives_it(settings, cast):
    ingest(settings, mail_with(message_id="question"))
    app = create_app(settings, testing=True)
    client = signed_in(app)
    response = client.post("/tickets/1/reply", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/tickets/1"), "text": "Here is the patched build.",
        "attachments": (io.BytesIO(REPORT), "patch.bin", "application/octet-stream")})
    assert response.status_code == 302
    row = Attachment.get(Attachment.filename == "patch.bin")
    assert row.in_store and attachments.content(row) == REPORT
    run_worker(settings)
    [reply] = [email.message_from_bytes(raw, policy=email.policy.default) for raw in sent_mail(settings)
               if b"patched build" in raw]
    [part] = list(reply.iter_attachments())
    assert part.get_filename() == "patch.bin" and part.get_content() == REPORT


def test_a_missing_or_altered_file_is_refused_with_a_reason_not_served(settings, cast, caplog):
    ingest(settings, mail_with(("report.bin", "application/octet-stream", REPORT), message_id="lost"))
    row = Attachment.get()
    path = attachments.FolderStore(settings.path(settings.attachments.folder)).path(row.sha256)
    client = signed_in(create_app(settings, testing=True))
    path.write_bytes(b"something else")
    response = client.get(f"/attachments/{row.id}")
    assert response.status_code == 404 and "missing from the attachment store" in response.get_data(as_text=True)
    path.unlink()
    assert client.get(f"/attachments/{row.id}").status_code == 404
    assert "no such file" in caplog.text and "content has changed" in caplog.text


def age(settings, digest: str, hours: float) -> None:
    path = attachments.FolderStore(settings.path(settings.attachments.folder)).path(digest)
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_files_of_a_mail_that_failed_are_removed_by_the_sweep_and_nothing_named_is(settings, monkeypatch):
    ingest(settings, mail_with(("kept.bin", "application/octet-stream", REPORT), message_id="kept"))
    kept = hashlib.sha256(REPORT).hexdigest()
    doomed_bytes = b"core dump " * 1000
    real = attachments.stored

    def stored_then_crash(data):  # the file is written, then the mail's transaction fails
        real(data)
        raise RuntimeError("disk full while writing the row")

    monkeypatch.setattr(attachments, "stored", stored_then_crash)
    ingest(settings, mail_with(("core", "application/octet-stream", doomed_bytes), message_id="failed"))
    monkeypatch.undo()
    doomed = hashlib.sha256(doomed_bytes).hexdigest()
    assert InboundMail.get(InboundMail.message_id == "<failed@client.example>").state != "processed"
    assert Message.select().count() == 1 and stored_files(settings) == sorted([kept, doomed])

    assert attachments.collect_orphans(24) == 0  # young: its transaction may still be running
    age(settings, doomed, 25)
    age(settings, kept, 25)
    assert attachments.collect_orphans(24) == 1
    assert stored_files(settings) == [kept]  # named by a row: kept however old
    assert attachments.content(Attachment.get()) == REPORT


def test_an_old_orphan_about_to_be_named_again_is_not_removed(settings):
    """A mail carrying content whose file is an old orphan touches the file before its row
    commits; a sweep running meanwhile sees it fresh and leaves it."""
    store = attachments.FolderStore(settings.path(settings.attachments.folder))
    digest = hashlib.sha256(REPORT).hexdigest()
    store.put(digest, REPORT)
    age(settings, digest, 48)
    attachments.stored(REPORT)  # the new mail's first step, its row not yet written
    assert attachments.collect_orphans(24) == 0 and store.get(digest) == REPORT


def test_the_daily_job_collects_orphans_through_the_worker(settings):
    from workers import sweeper

    attachments.stored(b"orphan " * 1000)
    [digest] = stored_files(settings)
    age(settings, digest, 30)
    runtime.queue(settings).enqueue(sweeper.collect_attachment_orphans)
    run_worker(settings)
    assert stored_files(settings) == []


def test_the_backup_copies_the_attachment_folder(settings, tmp_path):
    ingest(settings, mail_with(("report.bin", "application/octet-stream", REPORT), message_id="backed"))
    done = subprocess.run([sys.executable, "-m", "postdesk", "--config", settings.source, "backup",
                           str(tmp_path / "backup.db")], capture_output=True, text=True, timeout=120)
    if done.returncode == 69:  # PostgreSQL without pg_dump on PATH
        pytest.skip(done.stderr)
    assert done.returncode == 0, done.stderr
    assert "1 attachment files" in done.stdout
    digest = hashlib.sha256(REPORT).hexdigest()
    assert (tmp_path / "backup.db.attachments" / digest[:2] / digest).read_bytes() == REPORT


def test_an_unknown_store_is_refused_at_start_up(tmp_path, redis_server):
    with pytest.raises(config.ConfigError, match="attachments.store"):
        make_settings(tmp_path, redis_server, attachments={"store": "s3"})


def test_a_store_that_cannot_be_written_fails_the_mail_alone_and_keeps_it_for_replay(settings):
    folder = settings.path(settings.attachments.folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")  # the store's path is unusable
    ingest(settings, mail_with(("report.bin", "application/octet-stream", REPORT), message_id="blocked"))
    ingest(settings, mail_with(message_id="plain", sender="erik@other.example"))
    blocked = InboundMail.get(InboundMail.message_id == "<blocked@client.example>")
    assert blocked.state != "processed" and "attachments" in blocked.error
    assert InboundMail.get(InboundMail.message_id == "<plain@client.example>").state == "processed"

