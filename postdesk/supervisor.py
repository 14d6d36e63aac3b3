"""`postdesk run`: start every part as a child process, restart the ones that die, stop them all."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from . import embedded_redis, runtime

log = logging.getLogger(__name__)

MAX_RESTARTS_PER_MINUTE = 5


class Supervisor:
    def __init__(self, settings, verbose: bool = False):
        self.settings = settings
        self.verbose = verbose
        self.children: dict[str, subprocess.Popen] = {}
        workers = [f"worker-{n}" for n in range(1, settings.worker.processes + 1)]
        self.parts = ["smtp", *workers, "web"] + (["imap"] if settings.imap else [])
        self.restarts: dict[str, list[float]] = {name: [] for name in self.parts + ["redis"]}
        self.stopping = threading.Event()
        self.redis: subprocess.Popen | None = None

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        env = dict(os.environ, POSTDESK_CONFIG=self.settings.source)
        try:
            if not self.settings.redis.url:
                self.start_redis()
                env["POSTDESK_REDIS_URL"] = f"unix://{self.settings.var / 'redis.sock'}"
            self.env = env
            for name in self.parts:
                self.start(name)
            self.announce()
            return self.watch()
        finally:
            self.stop_all()

    def start_redis(self) -> None:
        self.redis = embedded_redis.start(self.settings.var / "redis",
                                          unixsocket=self.settings.var / "redis.sock")

    def start(self, name: str) -> None:
        command = name.split("-")[0]  # worker-2 runs `postdesk worker`
        argv = [sys.executable, "-m", "postdesk"] + (["--verbose"] if self.verbose else []) + [command]
        self.children[name] = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL)

    def announce(self) -> None:
        s = self.settings
        out = (f"{s.outgoing.relay_host}:{s.outgoing.relay_port}" if s.outgoing.relay_host
               else s.path(s.outgoing.folder))
        lines = [
            f"Postdesk is running (config {s.source})",
            f"  SMTP in     {s.smtp.host}:{s.smtp.port}  (mailboxes: {', '.join(m.address for m in s.mailboxes)})",
            f"  admin web   http://{s.web.host}:{s.web.port}/",
            f"  workers     {s.worker.processes} (RQ, with the periodic sweep)",
            f"  Redis       {runtime.redis_url(s) if not s.redis.url else s.redis.url}"
            + ("  (embedded)" if not s.redis.url else ""),
            f"  database    {s.database.url}",
            *[f"  IMAP in     {a.name}: {a.username}@{a.host}:{a.port}/{a.folder}" for a in s.imap],
            f"  mail out    {out}",
            "Press Ctrl-C to stop.",
        ]
        self.say("\n".join(lines))

    def say(self, text: str) -> None:
        """To the person at the terminal; a log line when the logs are JSON, so each line still parses."""
        if self.settings.logging.format == "json":
            log.info("%s", text)
        else:
            print(text, file=sys.stderr, flush=True)

    def watch(self) -> int:
        """Restart whatever died, the embedded Redis included (nothing is lost while it is away:
        the edges store to the database and the workers read it), unless it keeps dying."""
        while not self.stopping.wait(0.5):
            dead = [(name, child) for name, child in self.children.items() if child.poll() is not None]
            if self.redis is not None and self.redis.poll() is not None:
                dead.append(("redis", self.redis))
            for name, child in dead:
                if name == "redis":
                    self.restart_redis(child.returncode)
                    continue
                now = time.monotonic()
                recent = [t for t in self.restarts[name] if now - t < 60] + [now]
                self.restarts[name] = recent
                if len(recent) > MAX_RESTARTS_PER_MINUTE:
                    log.error("%s exited %d too often; stopping Postdesk", name, child.returncode)
                    return 1
                log.warning("%s exited with %d; restarting", name, child.returncode)
                self.start(name)
        return 0

    def restart_redis(self, returncode: int) -> None:
        """Redis is never a reason to stop: without it mail is still stored and processed from
        the database, only slower. Restart it, backing off up to a minute while it keeps failing."""
        now = time.monotonic()
        recent = [t for t in self.restarts["redis"] if now - t < 300]
        if recent and now - recent[-1] < min(60, 2 ** len(recent) / 2):
            return
        self.restarts["redis"] = recent + [now]
        log.warning("redis exited with %s; restarting", returncode)
        try:
            self.start_redis()
        except (RuntimeError, OSError) as exc:
            log.error("redis did not start (%s); mail is processed from the database meanwhile", exc)

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, child in self.children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                child.kill()
                child.wait()
        if self.redis is not None:
            embedded_redis.stop(self.redis)
        self.say("Postdesk stopped.")
