"""Versioned schema migrations, applied in order from an empty database (`postdesk migrate`)."""

from __future__ import annotations

import logging

from .base import db
from .tables import ALL, SchemaVersion

log = logging.getLogger(__name__)


def _initial_schema():
    db.create_tables(ALL)


# Append new migrations; never edit or reorder applied ones. Later ones use playhouse.migrate.
MIGRATIONS = (
    (1, "initial schema", _initial_schema),
)


def current_version() -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    latest = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return latest.version if latest else 0


def migrate() -> list[int]:
    """Apply every migration newer than the database; returns the versions applied."""
    db.create_tables([SchemaVersion])
    applied = []
    for version, title, apply in MIGRATIONS:
        with db.atomic():
            if SchemaVersion.get_or_none(SchemaVersion.version == version):
                continue
            log.info("applying migration %d: %s", version, title)
            apply()
            SchemaVersion.create(version=version)
            applied.append(version)
    return applied


def is_current() -> bool:
    return current_version() == MIGRATIONS[-1][0]
