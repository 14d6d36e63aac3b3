"""Single-row statements whose SQL text is built once per table and columns, for the ingest path.

Peewee builds a query's SQL anew on every call, and for the short statements a mail needs that
costs several times what the database spends running them (an insert: about 0.3 ms of building
against 0.04 ms in SQLite). These helpers build each statement's text once, from the model's
own fields, and convert values with the fields' own `db_value` / `python_value`, so a row written
or read here is the row peewee would write or read. Everything else keeps using peewee's query
builder, which reads better; this is for statements that run once or more per mail.
"""

from __future__ import annotations

import datetime
import functools

import peewee as pw

from .base import db


def create(model, **values):
    """Insert one row as `model.create` would (the fields' defaults filled in) and return it."""
    row = _with_defaults(model, values)
    instance = model(__no_default__=1, **row)
    setattr(instance, model._meta.primary_key.name, _insert(model, row, ignore_conflict=False))
    instance._dirty.clear()
    return instance


def create_or_ignore(model, **values):
    """Insert one row unless it breaks a unique index (INSERT … ON CONFLICT DO NOTHING: no
    savepoint, and a concurrent creator is no error); the row, or None when it was there."""
    row = _with_defaults(model, values)
    row_id = _insert(model, row, ignore_conflict=True)
    if row_id is None:
        return None
    instance = model(__no_default__=1, **row)
    setattr(instance, model._meta.primary_key.name, row_id)
    instance._dirty.clear()
    return instance


def insert_many(model, rows: list[dict]) -> None:
    """Several rows of the same columns (defaults filled in), one statement per call."""
    if not rows:
        return
    rows = [_with_defaults(model, row) for row in rows]
    fields = _fields(model, tuple(rows[0]))
    sql = _insert_sql(model, tuple(rows[0]), len(rows), False, False, db.param)
    db.execute_sql(sql, [f.db_value(row[f.name]) for row in rows for f in fields])


def update(model, row_id, **values) -> int:
    """UPDATE one row by id; returns how many rows changed (0 or 1)."""
    names = tuple(values)
    sql = _update_sql(model, names, db.param)
    fields = _fields(model, names)
    return db.execute_sql(sql, [f.db_value(values[f.name]) for f in fields] + [row_id]).rowcount


def get(model, join: tuple[str, ...] = (), **where):
    """The first row whose fields equal these values (equality only), as an instance, or None.
    `join` names required foreign keys of `model` whose rows come in the same statement, so
    reading them later (`ticket.customer`) costs no query."""
    names = tuple(where)
    sql = _select_sql(model, names, join, db.param)
    found = db.execute_sql(sql, [f.db_value(where[f.name]) for f in _fields(model, names)]).fetchone()
    if found is None:
        return None
    instance = instance_of(model, found)
    offset = len(model._meta.sorted_fields)
    for name in join:
        related = model._meta.fields[name].rel_model
        setattr(instance, name, instance_of(related, found, offset))
        offset += len(related._meta.sorted_fields)
    instance._dirty.clear()
    return instance


def instance_of(model, values, offset: int = 0):
    """An instance of `model` from its columns in `values` (in `sorted_fields` order, from
    `offset`), with the values peewee's own cursor wrapper would give it."""
    readers = _readers(model)
    instance = model(__no_default__=1)
    instance.__data__ = {name: value if value is None or read is None else read(value)
                         for (name, read), value in zip(readers, values[offset:offset + len(readers)], strict=True)}
    return instance


@functools.lru_cache(maxsize=64)
def _readers(model) -> tuple:
    """(field name, converter or None) per column. Text and numbers come from the driver as they
    are; a stored datetime is the driver's ISO text, which `fromisoformat` reads for a fraction
    of what peewee's format-by-format `strptime` costs (a row of a ticket: 26 µs against 500)."""
    readers = []
    for field in model._meta.sorted_fields:
        if isinstance(field, pw.DateTimeField):
            readers.append((field.name, functools.partial(_datetime, field.python_value)))
        elif isinstance(field, (pw.CharField, pw.TextField, pw.IntegerField, pw.AutoField)) and \
                type(field).python_value in (pw.Field.python_value, pw.IntegerField.python_value):
            readers.append((field.name, None if isinstance(field, (pw.CharField, pw.TextField)) else int))
        else:
            readers.append((field.name, field.python_value))
    return tuple(readers)


def _datetime(fallback, value):
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    return fallback(value)


def columns(model, alias: str = "") -> str:
    """The model's columns in `sorted_fields` order, for a SELECT written by hand."""
    prefix = f'"{alias}".' if alias else ""
    return ", ".join(f'{prefix}"{f.column_name}"' for f in model._meta.sorted_fields)


def _with_defaults(model, values: dict) -> dict:
    """The row as `model.insert` writes it: the values given, and each missing field's default."""
    row = dict(values)
    for name, default, call in _defaults(model):
        if name not in row:
            row[name] = default() if call else default
    return row


@functools.lru_cache(maxsize=64)
def _defaults(model) -> tuple:
    return tuple((f.name, f.default, callable(f.default)) for f in model._meta.sorted_fields if f.default is not None)


@functools.lru_cache(maxsize=512)
def _fields(model, names: tuple[str, ...]) -> tuple:
    return tuple(model._meta.fields[name] for name in names)


def _insert(model, row: dict, ignore_conflict: bool):
    names = tuple(row)
    sql = _insert_sql(model, names, 1, ignore_conflict, bool(db.returning_clause), db.param)
    cursor = db.execute_sql(sql, [f.db_value(row[f.name]) for f in _fields(model, names)])
    if db.returning_clause:
        found = cursor.fetchone()
        return found[0] if found else None
    return cursor.lastrowid if cursor.rowcount else None


@functools.lru_cache(maxsize=512)
def _insert_sql(model, names: tuple[str, ...], rows: int, ignore_conflict: bool, returning: bool, param: str) -> str:
    columns_ = ", ".join(f'"{f.column_name}"' for f in _fields(model, names))
    values = "(" + ", ".join([param] * len(names)) + ")"
    sql = f'INSERT INTO "{model._meta.table_name}" ({columns_}) VALUES {", ".join([values] * rows)}'
    if ignore_conflict:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f' RETURNING "{model._meta.primary_key.column_name}"'
    return sql


@functools.lru_cache(maxsize=512)
def _update_sql(model, names: tuple[str, ...], param: str) -> str:
    assignments = ", ".join(f'"{f.column_name}" = {param}' for f in _fields(model, names))
    key = model._meta.primary_key.column_name
    return f'UPDATE "{model._meta.table_name}" SET {assignments} WHERE "{key}" = {param}'


@functools.lru_cache(maxsize=512)
def _select_sql(model, names: tuple[str, ...], join: tuple[str, ...], param: str) -> str:
    condition = " AND ".join(f'"t"."{f.column_name}" = {param}' for f in _fields(model, names))
    selected, tables = [columns(model, "t")], [f'"{model._meta.table_name}" AS "t"']
    for index, name in enumerate(join):
        key = model._meta.fields[name]
        alias = f"j{index}"
        selected.append(columns(key.rel_model, alias))
        tables.append(f'JOIN "{key.rel_model._meta.table_name}" AS "{alias}" '
                      f'ON "{alias}"."{key.rel_field.column_name}" = "t"."{key.column_name}"')
    return f'SELECT {", ".join(selected)} FROM {" ".join(tables)} WHERE {condition} LIMIT 1'
