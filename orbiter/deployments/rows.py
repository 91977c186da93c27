"""Multi-row INSERTs without model instances, and long id lists as one parameter, for the
engine's hot path (and the dashboard's).

A round of the engine writes hundreds of rows (Events, pins); Django's `bulk_create`
spends ~40 µs of Python per row building the instance and preparing each field. Here, on
PostgreSQL, the rows go by `COPY … FROM STDIN` (psycopg adapts each value in C; 500 Events
take ~1/3 less time than as a JSON document); when conflicts are to be ignored or columns
returned, which COPY cannot do, and on SQLite, they travel as one JSON document the
database unpacks (`jsonb_to_recordset`, `json_each`): one statement, one parameter. Rows go
in in the order given. Other databases fall back to `bulk_create`.
"""

import json
from datetime import datetime

from django.db import connection
from django.db.models import DateTimeField, JSONField
from django.db.models.expressions import RawSQL


def in_ids(ids):
    """The right-hand side of `field__in=` for a long list of integer ids: on PostgreSQL one
    array parameter (`IN (SELECT unnest(%s::bigint[]))`) instead of one placeholder per id,
    which Django resolves one by one (~7 µs each) and psycopg splices into the query text;
    elsewhere the list itself."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [ids])
    return ids


def rows_insert(model, rows: list[dict], *, ignore_conflicts: bool = False,
                returning: str | None = None) -> list | None:
    """Insert `rows` (dicts of column attnames -> JSON-able values, datetimes for date-time
    columns, the same keys in every row) into `model`'s table. Columns not given get their model default,
    evaluated once for the statement (e.g. `Event.source_ip`, from the request context).
    `ignore_conflicts`: a row that would violate a unique constraint is left out.
    `returning`: a column whose values, for the rows inserted, are returned (in no
    particular order); None on a database that cannot say."""
    if not rows:
        return [] if returning else None
    if connection.vendor not in ("postgresql", "sqlite"):
        model.objects.bulk_create([model(**row) for row in rows], ignore_conflicts=ignore_conflicts)
        return None
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    given = [fields[name] for name in rows[0]]
    others = [f for name, f in fields.items() if name not in rows[0]]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in [*given, *others])
    if connection.vendor == "postgresql" and not ignore_conflicts and not returning:
        _copy(model, rows, given, others, columns)
        return None
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in others]
    stamps: dict[datetime, str] = {}
    timed = [f.attname for f in given if isinstance(f, DateTimeField)]
    plain = []
    for row in rows:
        if timed:
            row = dict(row)
            for name in timed:
                when = row[name]
                if when is not None:
                    if when not in stamps:
                        stamps[when] = _stamp(when)
                    row[name] = stamps[when]
        plain.append(row)
    document = json.dumps(plain, separators=(",", ":"))
    table = quote(model._meta.db_table)
    if connection.vendor == "postgresql":
        types = ", ".join(f"{quote(f.attname)} {f.db_type(connection)}" for f in given)
        values = ", ".join([*(f"r.{quote(f.attname)}" for f in given),
                            *(f"CAST(%s AS {f.db_type(connection)})" for f in others)])
        names = ", ".join(quote(f.attname) for f in given)
        sql = (f"INSERT INTO {table} ({columns}) SELECT {values} FROM ROWS FROM "
               f"(jsonb_to_recordset(%s::jsonb) AS ({types})) WITH ORDINALITY AS r({names}, n) ORDER BY r.n")
    else:
        values = ", ".join([*(f"json_extract(value, '$.{f.attname}')" for f in given), *("%s" for _ in others)])
        # "WHERE true" keeps SQLite's parser from reading ON CONFLICT as part of a join.
        sql = f"INSERT INTO {table} ({columns}) SELECT {values} FROM json_each(%s) WHERE true ORDER BY key"
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(fields[returning].column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*defaults, document])
        return [row[0] for row in cursor.fetchall()] if returning else None


def _copy(model, rows: list[dict], given: list, others: list, columns: str) -> None:
    """PostgreSQL: the rows by COPY, in text form. JSON columns go as their JSON text;
    the defaults of the columns not given are taken once, as Python values."""
    jsons = {f.attname for f in given if isinstance(f, JSONField)}
    defaults = [f.get_default() for f in others]
    defaults = [json.dumps(v) if isinstance(f, JSONField) and v is not None else v
                for f, v in zip(others, defaults, strict=True)]
    names = [f.attname for f in given]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[n]) if n in jsons and row[n] is not None else row[n] for n in names]
                           + defaults)


def _stamp(when: datetime) -> str:
    """A timestamp in the text form the database stores and compares."""
    if connection.vendor == "postgresql":
        return when.isoformat()
    return connection.ops.adapt_datetimefield_value(when)
