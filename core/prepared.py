"""Querysets run as prepared statements with a generic plan, for tables with many partitions.

Planning a query over a table with a hundred partitions costs tens of milliseconds (the
planner weighs every index of every partition), far more than running it when it reads one
page. A prepared statement with a generic plan is planned once per database connection
(connections are kept, CONN_MAX_AGE) and each run prunes the partitions its parameter values
rule out as it starts. Django binds parameters on the client and never prepares, so the
compiled SQL goes through a server-binding psycopg cursor with `prepare=True`, wrapped in
Django's cursor wrapper so that execute wrappers and query logging still see it.
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

M = TypeVar("M", bound=Model)

# Connections whose session uses generic plans for prepared statements. Only the queries run
# here are prepared, so no other statement's plan changes. A SET undone by a rolled-back
# transaction only costs speed. (Prepared statements need a session of their own: behind a
# transaction-pooling PgBouncer older than 1.21 they fail.)
_generic: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
_NEVER_BY_ITSELF = 2**31 - 1


class _PreparingCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs["prepare"] = True
        return super().execute(query, params, **kwargs)


def fetch_prepared(queryset: QuerySet[M]) -> list[M]:
    """QUERYSET's rows as model instances; on PostgreSQL run as a prepared generic plan.

    Plain querysets only (every concrete field, no select_related, annotations or deferred
    fields); anything else, and other databases, run as Django runs them.
    """
    query = queryset.query
    database = connections[queryset.db]
    if (
        database.vendor != "postgresql"
        or query.select_related
        or query.annotation_select
        or query.deferred_loading != (frozenset(), True)
        or query.values_select
        or getattr(queryset, "_iterable_class", None) is not ModelIterable
    ):
        return list(queryset)
    try:
        sql, params = query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # e.g. .none(): nothing to ask the database
        return []
    database.ensure_connection()
    raw = database.connection
    if raw not in _generic:
        raw.execute("SET plan_cache_mode = force_generic_plan")
        _generic.add(raw)
    cursor = _PreparingCursor(raw)
    wrapper = CursorDebugWrapper if database.queries_logged else CursorWrapper
    wrapped = wrapper(cursor, database)
    # Django turns psycopg's prepared statements off (prepare_threshold None), which also
    # ignores prepare=True; a threshold never reached, for this statement only, prepares
    # it (or reuses it) and nothing else. Statements stay prepared in between.
    threshold = raw.prepare_threshold
    raw.prepare_threshold = _NEVER_BY_ITSELF
    try:
        with wrapped:
            wrapped.execute(sql, params)
            rows = wrapped.fetchall()
    finally:
        raw.prepare_threshold = threshold
    names = [field.attname for field in queryset.model._meta.concrete_fields]
    return [queryset.model.from_db(queryset.db, names, row) for row in rows]
