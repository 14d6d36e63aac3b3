"""Serve the admin with gunicorn (sync workers; each worker builds the app after forking)."""

from __future__ import annotations

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from . import logs


class JsonLogger(glogging.Logger):
    """gunicorn's own lines (start, worker timeouts) as JSON too, when [logging] format = "json"."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(logs.JsonFormatter())


class WebServer(BaseApplication):
    def __init__(self, settings, verbose: bool = False):
        self.settings = settings
        self.verbose = verbose
        super().__init__()

    def load_config(self):
        web = self.settings.web
        self.cfg.set("bind", f"{web.host}:{web.port}")
        self.cfg.set("workers", web.workers)
        self.cfg.set("proc_name", "postdesk-web")
        self.cfg.set("loglevel", "debug" if self.verbose else "warning")
        self.cfg.set("graceful_timeout", 5)
        if self.settings.logging.format == "json":
            self.cfg.set("logger_class", JsonLogger)

    def load(self):
        from web import create_app
        return create_app(self.settings)
