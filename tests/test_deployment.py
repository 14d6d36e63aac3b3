"""The deployment files (deploy/, docs/deployment.md) say what works: each systemd unit runs a real
`postdesk` command with valid arguments, the Postfix pipe stores a mail and answers in sysexits
codes, and the production configuration excerpt loads and does what the page says."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from models import migrations
from models.tables import InboundMail
from postdesk import cli, config, runtime
from tests.conftest import DATA
from web import create_app

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
PROGRAM = "/opt/postdesk/venv/bin/postdesk"
WRAPPER = "/opt/postdesk/bin/postdesk"


def exec_lines(unit: Path) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines()
            if re.match(r"ExecStart(Pre|Post)?=", line)]


def postdesk_argv(command: str) -> list[str] | None:
    """The arguments given to `postdesk` by a unit's command line (systemd's $$ and %% unescaped,
    through `sh -c` when the unit uses a shell), or None when it runs something else."""
    argv = shlex.split(command.replace("$$", "$").replace("%%", "%"))
    if argv[:2] == ["/bin/sh", "-c"]:
        argv = shlex.split(argv[2])
        argv = argv[1:] if argv[0] == "exec" else argv
    return argv[1:] if argv[0] == PROGRAM else None


def test_each_systemd_unit_runs_a_real_postdesk_command_with_valid_arguments():
    commands = {}
    for unit in sorted(UNITS.glob("*.service")):
        for line in exec_lines(unit):
            argv = postdesk_argv(line)
            if argv is None:
                continue
            args = cli.build_parser().parse_args(argv)  # exits (fails the test) on a wrong command or argument
            name = next(a for a in argv if not a.startswith("-"))
            commands[unit.name] = name
            assert args.command.__name__ == f"cmd_{name.replace('-', '_')}"
            shown = subprocess.run([sys.executable, "-m", "postdesk", name, "--help"], capture_output=True,
                                   text=True, timeout=60)
            assert shown.returncode == 0 and f"usage: postdesk {name}" in shown.stdout, shown.stderr
    # every part `postdesk run` supervises has its unit, and the operator's two
    assert set(commands.values()) >= {"smtp", "worker", "web", "imap", "migrate", "backup"}
    assert all(exec_lines(UNITS / unit) for unit in commands)


def test_the_target_starts_units_that_exist():
    target = (UNITS / "postdesk.target").read_text()
    wanted = re.search(r"^Wants=(.*)$", target, re.M).group(1).split()
    for unit in wanted:
        template = re.sub(r"@[^.]+\.", "@.", unit)  # postdesk-worker@1.service is the template's instance
        assert (UNITS / template).is_file(), unit
    for unit in UNITS.glob("postdesk-*.service"):
        if "backup" not in unit.name:
            assert "PartOf=postdesk.target" in unit.read_text(), unit.name


@pytest.fixture
def pipe(settings, tmp_path):
    """deploy/bin/postdesk with this test's paths, and master.cf's command line for it."""
    environment = tmp_path / "environment"
    environment.write_text(f"POSTDESK_DATABASE_URL='{settings.database.url}'\n")
    wrapper = (ROOT / "deploy" / "bin" / "postdesk").read_text()
    wrapper = (wrapper.replace("/etc/postdesk/environment", str(environment))
               .replace("/etc/postdesk/config.toml", settings.source)
               .replace(PROGRAM, str(Path(sys.executable).parent / "postdesk")))
    local = tmp_path / "postdesk-wrapper"
    local.write_text(wrapper)
    local.chmod(0o755)
    master = (ROOT / "deploy" / "postfix" / "master.cf").read_text()
    argv = re.search(r"argv=(.*)$", master, re.M).group(1).split()
    assert argv[0] == WRAPPER
    return [str(local), *argv[1:]], environment


def run_pipe(argv, sender: str, recipient: str, mail: bytes) -> int:
    """As Postfix's pipe(8) does: macros expanded in place, the mail on stdin."""
    argv = [a.replace("${sender}", sender).replace("${recipient}", recipient) for a in argv]
    return subprocess.run(argv, input=mail, capture_output=True, timeout=60).returncode


def test_the_postfix_pipe_stores_the_mail_or_asks_postfix_to_retry(pipe, settings):
    argv, environment = pipe
    mail = (DATA / "new_question.eml").read_bytes()
    assert run_pipe(argv, "alice@client.example", "support+tag@example.com", mail) == 0
    assert run_pipe(argv, "", "support@example.com", mail.replace(b"new-question-1", b"bounce-1")) == 0  # null sender
    rows = list(InboundMail.select().order_by(InboundMail.id))
    assert [(r.source, r.mail_from, r.rcpt_to) for r in rows] == [
        ("pipe", "alice@client.example", "support+tag@example.com"), ("pipe", "<>", "support@example.com")]
    assert run_pipe(argv, "a@b", "support@example.com", b"\r\n") == 65  # refused: Postfix bounces it
    environment.write_text("POSTDESK_DATABASE_URL='sqlite:////dev/null/cannot/be.db'\n")  # the database is away
    assert run_pipe(argv, "a@b", "support@example.com", mail) == 75  # EX_TEMPFAIL: Postfix keeps it, retries


def test_the_production_configuration_excerpt_loads_and_the_proxy_settings_do_what_the_page_says(tmp_path,
                                                                                                 redis_server):
    page = (ROOT / "docs" / "deployment.md").read_text()
    excerpt = re.search(r"<!-- production-config -->\n```toml\n(.*?)```", page, re.S).group(1)
    data = tomllib.loads(excerpt)
    data["database"]["url"] = f"sqlite:///{tmp_path / 'postdesk.db'}"  # the page's PostgreSQL is not here
    data["paths"]["var"] = str(tmp_path / "var")
    data["redis"] = {"url": redis_server}
    settings = config.from_dict(data, source="docs/deployment.md", base_dir=str(tmp_path))
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    try:
        client = create_app(settings, testing=True).test_client()
        proxied = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        login = client.get("/login", headers=proxied, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert "Secure" in login.headers["Set-Cookie"] and "HttpOnly" in login.headers["Set-Cookie"]
        # nginx on this machine forwards a stranger: the stranger's address is checked, not nginx's
        assert client.get("/metrics", headers=proxied, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200  # a local scrape
    finally:
        runtime.close()
    nginx = (ROOT / "deploy" / "nginx" / "postdesk.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx and "proxy_set_header Host $host;" in nginx
    assert data["web"]["proxy_count"] == 1 and data["web"]["secure_cookies"] is True
