from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.pagination import CursorPagination
from core.prepared import fetch_prepared

from .models import RequestLog
from .selectors import LogFilters, Tally, UsageReport, logs_for_user, period_standing, usage_report
from .serializers import (
    HTTP_METHODS,
    MAX_USAGE_DAYS,
    LogQuerySerializer,
    RequestLogSerializer,
    UsageQuerySerializer,
    UsageSerializer,
)
from .services import usage_alerts_record


def _query(name: str, kind: Any, description: str, **extra: Any) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, **extra)


# A date (the start or end of that day) or a date-time, as the filters take them.
_DATE_OR_DATE_TIME = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}
_LOG_RANGE_PARAMETERS = [
    _query(
        "from",
        _DATE_OR_DATE_TIME,
        "ISO 8601 date or date-time (UTC when no offset); a date means the start of that day.",
    ),
    _query(
        "to",
        _DATE_OR_DATE_TIME,
        "ISO 8601 date or date-time (UTC when no offset), inclusive: a date means the end of "
        "that day, a time the end of that second. Not before `from`.",
    ),
]
_USAGE_RANGE_PARAMETERS = [
    _query(
        name,
        {"type": "string", "format": "date"},
        f"{label} UTC day. Give both `from` and `to` or neither; `from` not after `to`, at most "
        f"{MAX_USAGE_DAYS} days. A date-time is taken only at midnight UTC: usage is kept per "
        "day, so any other time is refused (400).",
    )
    for name, label in (("from", "First"), ("to", "Last"))
]


class LogPagination(CursorPagination):
    """The API's cursor pagination, each page run as a prepared statement with a generic
    plan: the log table has a partition per day, and planning a query over all of them
    costs more than running it (core.prepared)."""

    def fetch(self, queryset: QuerySet[Any]) -> list[Any]:
        return fetch_prepared(queryset)


class LogListView(GenericAPIView):
    serializer_class = RequestLogSerializer
    pagination_class = LogPagination

    def get_queryset(self) -> QuerySet[RequestLog]:
        query = LogQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        start, end = params.get("from"), params.get("to")
        filters = LogFilters(
            method=params.get("method"),
            status_code=params.get("statusCode"),
            created_from=start.at if start else None,
            created_before=end.until() if end else None,
            server_id=params.get("serverId"),
            tool_id=params.get("toolId"),
            source=params.get("source"),
        )
        return logs_for_user(user=user_of(self.request), filters=filters)

    @extend_schema(
        operation_id="logs_list",
        summary="List request logs, newest first",
        parameters=[
            _query("method", OpenApiTypes.STR, "Upstream HTTP method.", enum=HTTP_METHODS),
            _query(
                "statusCode",
                {"type": "integer", "minimum": 100, "maximum": 599},
                "Upstream HTTP status (100-599).",
            ),
            *_LOG_RANGE_PARAMETERS,
            _query("serverId", OpenApiTypes.UUID, "Only this server's calls."),
            _query("toolId", OpenApiTypes.UUID, "Only this tool's calls."),
            _query("source", OpenApiTypes.STR, "mcp (tools/call) or test.", enum=["mcp", "test"]),
        ],
        responses=RequestLogSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _counts(tally: Tally) -> dict[str, Any]:
    return {
        "total": tally.total,
        "succeeded": tally.succeeded,
        "failed": tally.failed,
        "averageLatencyMs": tally.average_ms,
        "p95LatencyMs": tally.p95_ms,
    }


def _usage_body(report: UsageReport) -> dict[str, Any]:
    standing = report.standing
    plan = standing.plan
    return {
        "fromDate": report.first_day,
        "toDate": report.last_day,
        **_counts(report.tally),
        "periodStart": plan.period_start,
        "periodEnd": plan.period_end,
        "plan": {
            "name": plan.name,
            "includedCalls": plan.included_calls,
            "overagePer1000": plan.overage_per_1000,
            "requestsPerMinute": plan.requests_per_minute,
        },
        "periodCalls": standing.calls,
        "includedCalls": plan.included_calls,
        "overageCalls": standing.overage_calls,
        "overageCost": standing.overage_cost,
        "currency": "EUR",
        "budgetCap": plan.budget_cap,
        "fractionUsed": standing.quota_fraction,
        "budgetCapFractionUsed": standing.budget_fraction,
        "servers": [
            {"serverId": s.server_id, "serverName": s.server_name, **_counts(s.tally)}
            for s in report.servers
        ],
        "days": [
            {"date": day, "total": t.total, "succeeded": t.succeeded, "failed": t.failed}
            for day, t in report.days
        ],
        "alerts": [
            {"kind": a.kind, "threshold": a.threshold, "createdAt": a.created_at}
            for a in report.alerts
        ],
    }


class UsageView(GenericAPIView):
    serializer_class = UsageSerializer
    pagination_class = None

    @extend_schema(
        operation_id="usage_get",
        summary="Usage statistics: the current billing period, or whole UTC days from..to",
        parameters=_USAGE_RANGE_PARAMETERS,
        responses=UsageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = user_of(request)
        standing = period_standing(user.pk)
        alerts = usage_alerts_record(user_id=user.pk, standing=standing)
        start, end = query.validated_data.get("from"), query.validated_data.get("to")
        report = usage_report(
            user=user,
            standing=standing,
            alerts=alerts,
            first_day=start.at.astimezone(UTC).date() if start else None,
            last_day=end.at.astimezone(UTC).date() if end else None,
        )
        return Response(UsageSerializer(_usage_body(report)).data)
