# On PostgreSQL the request-log table becomes a table partitioned by UTC day of created_at,
# its rows moved over, in one transaction (usage/partitions.py says why and how). SQLite keeps
# the plain table: nothing to do there.
#
# The steps, all under one ACCESS EXCLUSIVE lock (writers wait; the recorders keep their
# records buffered and retry): find the days that hold rows (a loose index scan on
# created_at), rename the table away and drop its indexes (their names are needed again),
# create the partitioned table with the same columns and one partition per day found plus
# the days ahead, copy the rows, drop the old table, then add
# the primary key (id, created_at) and build the model's indexes on the partitioned table
# (PostgreSQL builds them on every partition, once, after the copy: faster than keeping
# them current row by row).
#
# Django's state is unchanged: `id` stays the model's primary key (unique in practice: UUID
# v7), while the database's primary key also holds the partition key, as PostgreSQL requires.

from datetime import timedelta

from django.conf import settings
from django.db import migrations

from usage import partitions

OLD = "usage_requestlog_unpartitioned"
TABLE = partitions.TABLE

DAYS_WITH_ROWS = f"""
WITH RECURSIVE days(day) AS (
    SELECT date_trunc('day', min(created_at) AT TIME ZONE 'UTC') FROM "{OLD}"
    UNION ALL
    SELECT (
        SELECT date_trunc('day', min(created_at) AT TIME ZONE 'UTC') FROM "{OLD}"
        WHERE created_at >= (days.day + interval '1 day') AT TIME ZONE 'UTC'
    )
    FROM days WHERE days.day IS NOT NULL
)
SELECT day::date FROM days WHERE day IS NOT NULL
"""  # noqa: S608


def _secondary_indexes(cursor, table):
    cursor.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = to_regclass(%s) AND NOT i.indisprimary",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def _swap_out(cursor, table, new_name):
    """Rename TABLE to NEW_NAME and free the names of its primary key and indexes."""
    cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    for index in _secondary_indexes(cursor, table):
        cursor.execute(f'DROP INDEX "{index}"')
    cursor.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{table}_pkey" TO "{new_name}_pkey"')
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{new_name}"')


def _finish(schema_editor, apps, cursor, primary_key):
    cursor.execute(
        f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY ({primary_key})'
    )
    model = apps.get_model("usage", "RequestLog")
    for index in model._meta.indexes:
        schema_editor.add_index(model, index)
    cursor.execute(f'ANALYZE "{TABLE}"')


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if partitions.is_partitioned(cursor):
            return
        cursor.execute(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
        cursor.execute(DAYS_WITH_ROWS.replace(OLD, TABLE))
        days = {row[0] for row in cursor.fetchall()}
        _swap_out(cursor, TABLE, OLD)
        cursor.execute(
            f'CREATE TABLE "{TABLE}" (LIKE "{OLD}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
            "PARTITION BY RANGE (created_at)"
        )
        first = partitions.today()
        ahead = {first + timedelta(days=n) for n in range(settings.LOG_PARTITIONS_AHEAD_DAYS + 1)}
        partitions.ensure_day_partitions(cursor, days | ahead)
        cursor.execute(f'INSERT INTO "{TABLE}" SELECT * FROM "{OLD}"')  # noqa: S608
        cursor.execute(f'DROP TABLE "{OLD}"')
        _finish(schema_editor, apps, cursor, "id, created_at")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    partitioned = "usage_requestlog_partitioned"
    with schema_editor.connection.cursor() as cursor:
        if not partitions.is_partitioned(cursor):
            return
        _swap_out(cursor, TABLE, partitioned)
        cursor.execute(
            f'CREATE TABLE "{TABLE}" (LIKE "{partitioned}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        cursor.execute(f'INSERT INTO "{TABLE}" SELECT * FROM "{partitioned}"')  # noqa: S608
        cursor.execute(f'DROP TABLE "{partitioned}" CASCADE')
        _finish(schema_editor, apps, cursor, "id")


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_admin_filter_indexes"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
