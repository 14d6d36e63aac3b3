"""A private PostgreSQL server for the test suite (Debian's package), started on first use and
stopped at the end of the session, as Dovecot and Redis are; each test gets a database of its own."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

TEMPLATE = "postdesk_template"  # every migration applied once; each test's database is a copy of it
SUPERUSER = "postgres"


cluster: Cluster | None = None  # the session's server (conftest's postgres_cluster fixture)


def wanted() -> bool:
    """Does this run test PostgreSQL? POSTDESK_TEST_DB=postgresql (`make test` runs both)."""
    return os.environ.get("POSTDESK_TEST_DB", "sqlite") == "postgresql"


def database_url(folder: Path, empty: bool = False) -> str:
    """The database of a test's folder: its SQLite file there, or on PostgreSQL a database of its
    own with the migrations applied (`empty`: without, as the SQLite file starts)."""
    if cluster is None:
        return f"sqlite:///{folder / 'postdesk.db'}"
    return cluster.database_for(folder, empty)


def binaries() -> Path | None:
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


class Cluster:
    """initdb in a folder of its own, the server on a free port with its Unix socket in that folder,
    durability off (fsync, synchronous commit: a test database need not survive a power cut)."""

    def __init__(self, port: int, durable: bool = False):
        self.bin = binaries()
        # durable (bench/scale.py): fsync on; a power cut may lose the last commits, as SQLite's WAL
        # with synchronous=normal may, and corrupts nothing
        self.durability = "-c synchronous_commit=off" if durable else \
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.port = port
        self.root: Path | None = None
        self.databases: set[str] = set()  # created by tests and not dropped yet

    @property
    def started(self) -> bool:
        return self.root is not None

    def start(self) -> None:
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed; `make test` installs Debian's postgresql")
        self.root = Path(tempfile.mkdtemp(prefix="postdesk-postgres-"))
        # initdb and the server refuse to run as root: as root they run as the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.root / "data"), "--auth=trust", f"--username={SUPERUSER}",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {self.durability} "
                   "-c max_connections=300 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        if self.root is None:
            return
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / program), *args], capture_output=True, text=True)
        if done.returncode:
            log = self.root / "server.log"
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}"
                               + (log.read_text(errors="replace") if log.exists() else ""))

    def url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@/{name}?host={self.root}&port={self.port}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement outside a transaction (CREATE / DROP DATABASE need that)."""
        import psycopg2

        connection = psycopg2.connect(dbname=database, user=SUPERUSER, host=str(self.root), port=self.port)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def build_template(self) -> None:
        """The template every test database copies: the migrations applied once, from empty."""
        from models import migrations
        from models.base import db
        from models.dialect import open_postgresql

        self.execute(f"CREATE DATABASE {TEMPLATE}")
        previous = db.obj
        database = open_postgresql(self.url(TEMPLATE), lock_timeout_ms=10_000)  # as postdesk migrate opens it
        db.initialize(database)
        try:
            migrations.migrate()
        finally:
            database.close()
            db.initialize(previous)

    def database_for(self, folder: Path, empty: bool = False) -> str:
        """The URL of the database of a test's folder: a fresh copy of the template (or, `empty`,
        of PostgreSQL's own empty one) the first time the folder asks, the same database after (a
        test that makes settings twice, as with the SQLite file in the folder)."""
        if not self.started:
            self.start()
            self.build_template()
        name = "t_" + hashlib.sha1(str(folder).encode()).hexdigest()[:20]
        if name not in self.databases:
            self.execute(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else TEMPLATE}")
            self.databases.add(name)
        return self.url(name)

    def drop_databases(self) -> None:
        """Drop the tests' databases, ending any connection a test left open."""
        while self.databases:
            self.execute(f"DROP DATABASE IF EXISTS {self.databases.pop()} WITH (FORCE)")


def connect(url: str):
    """A psycopg2 connection of its own to a test's database (in a transaction until commit)."""
    import psycopg2
    from playhouse.db_url import parse

    kwargs = parse(url)
    return psycopg2.connect(dbname=kwargs.pop("database"), **kwargs)
