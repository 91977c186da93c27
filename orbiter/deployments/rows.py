"""Multi-row INSERTs without model instances, for the engine's hot path.

A round of the engine writes hundreds of rows (Events, pins); Django's `bulk_create`
spends ~40 µs of Python per row building the instance and preparing each field. Here the
rows travel as one JSON document and the database unpacks it (`jsonb_to_recordset` on
PostgreSQL, `json_each` on SQLite): one statement, one parameter, in the order given.
Other databases fall back to `bulk_create`.
"""

import json
from datetime import datetime

from django.db import connection
from django.db.models import DateTimeField


def rows_insert(model, rows: list[dict], *, ignore_conflicts: bool = False) -> None:
    """Insert `rows` (dicts of column attnames -> JSON-able values, datetimes for date-time
    columns, the same keys in every row) into `model`'s table. Columns not given get their model default,
    evaluated once for the statement (e.g. `Event.source_ip`, from the request context).
    `ignore_conflicts`: a row that would violate a unique constraint is left out."""
    if not rows:
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        model.objects.bulk_create([model(**row) for row in rows], ignore_conflicts=ignore_conflicts)
        return
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    given = [fields[name] for name in rows[0]]
    others = [f for name, f in fields.items() if name not in rows[0]]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in others]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in [*given, *others])
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
    with connection.cursor() as cursor:
        cursor.execute(sql, [*defaults, document])


def _stamp(when: datetime) -> str:
    """A timestamp in the text form the database stores and compares."""
    if connection.vendor == "postgresql":
        return when.isoformat()
    return connection.ops.adapt_datetimefield_value(when)
