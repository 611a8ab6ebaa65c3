from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rest_framework import serializers

from core.fields import BlankAsNull

from .models import RequestLog

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]
MAX_USAGE_DAYS = 366


@dataclass(frozen=True)
class Moment:
    """A parsed `from`/`to`: the instant, and whether it was given as a bare date."""

    at: datetime
    date_only: bool

    def until(self) -> datetime:
        """The exclusive end of a `to`: a date covers its whole day, a time its whole second."""
        if self.date_only:
            return self.at + timedelta(days=1)
        return self.at.replace(microsecond=0) + timedelta(seconds=1)


def parse_moment(value: str) -> Moment:
    """An ISO 8601 date or date-time; naive values and bare dates are UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            return Moment(datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC), True)
        # An unencoded "+01:00" offset arrives in a query string as " 01:00".
        text = re.sub(r"(T[\d:.]+) (\d{2}:?\d{2})$", r"\1+\2", text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise serializers.ValidationError(
            "Must be an ISO 8601 date or date-time, e.g. 2026-11-24T12:00:00Z."
        ) from None
    return Moment(moment if moment.tzinfo else moment.replace(tzinfo=UTC), False)


class MomentField(serializers.Field):
    def to_internal_value(self, data: Any) -> Moment:
        if not isinstance(data, str) or not data.strip():
            raise serializers.ValidationError("Must be an ISO 8601 date or date-time.")
        return parse_moment(data)

    def to_representation(self, value: Moment) -> str:
        return value.at.isoformat()


class RangeQuerySerializer(serializers.Serializer):
    """`from` and `to` (Python keywords, hence added in get_fields)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = MomentField(required=False)
        fields["to"] = MomentField(required=False)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start.at > end.at:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        return attrs


class LogQuerySerializer(RangeQuerySerializer):
    method = serializers.CharField(required=False)
    statusCode = serializers.IntegerField(required=False, min_value=100, max_value=599)
    serverId = serializers.UUIDField(required=False)
    toolId = serializers.UUIDField(required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Named like Serializer.source, so not declarable as a class attribute.
        fields["source"] = serializers.ChoiceField(required=False, choices=["mcp", "test"])
        return fields

    def validate_method(self, value: str) -> str:
        method = value.strip().upper()
        if method not in HTTP_METHODS:
            raise serializers.ValidationError(f"Must be one of {', '.join(HTTP_METHODS)}.")
        return method


class UsageQuerySerializer(RangeQuerySerializer):
    """Usage is counted per UTC day, so a range names whole days: dates, or midnight UTC."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        start, end = attrs.get("from"), attrs.get("to")
        if (start is None) != (end is None):
            raise serializers.ValidationError(
                {"from" if start is None else "to": ["Give both `from` and `to`, or neither."]}
            )
        if start is None or end is None:
            return attrs
        errors = {
            name: [
                "Usage is kept per UTC day: give a date (2026-11-24) or midnight UTC "
                "(2026-11-24T00:00:00Z), not a time of day."
            ]
            for name, moment in (("from", start), ("to", end))
            if moment.at.astimezone(UTC).timetz() != time(0, tzinfo=UTC)
        }
        if errors:
            raise serializers.ValidationError(errors)
        days = (end.at.astimezone(UTC).date() - start.at.astimezone(UTC).date()).days + 1
        if days > MAX_USAGE_DAYS:
            raise serializers.ValidationError(
                {"to": [f"The range may span at most {MAX_USAGE_DAYS} days."]}
            )
        return attrs


class RequestLogSerializer(serializers.ModelSerializer):
    serverId = serializers.UUIDField(source="server_id", allow_null=True, read_only=True)
    serverName = serializers.CharField(source="server_name", read_only=True)
    toolId = serializers.UUIDField(source="tool_id", allow_null=True, read_only=True)
    toolName = serializers.CharField(source="tool_name", read_only=True)
    statusCode = serializers.IntegerField(source="status_code", allow_null=True, read_only=True)
    durationMs = serializers.IntegerField(source="duration_ms", read_only=True)
    upstreamMs = serializers.IntegerField(source="upstream_ms", allow_null=True, read_only=True)
    requestBytes = serializers.IntegerField(source="request_bytes", read_only=True)
    responseBytes = serializers.IntegerField(source="response_bytes", read_only=True)
    errorCode = BlankAsNull(source="error_code", help_text="null when the call succeeded.")
    keyPrefix = BlankAsNull(source="key_prefix", help_text="null without an access key.")
    clientName = BlankAsNull(source="client_name", help_text="null when the client gave none.")
    callerEmail = BlankAsNull(
        source="caller_email",
        help_text="The email of the user who called with an OAuth access token (on a shared "
        "server, someone in its audience); null for a call with an access key or none.",
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = RequestLog
        fields = [
            "id",
            "serverId",
            "serverName",
            "toolId",
            "toolName",
            "source",
            "method",
            "path",
            "statusCode",
            "durationMs",
            "upstreamMs",
            "requestBytes",
            "responseBytes",
            "errorCode",
            "keyPrefix",
            "clientName",
            "callerEmail",
            "succeeded",
            "createdAt",
        ]


class CountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    averageLatencyMs = serializers.FloatField(allow_null=True)
    p95LatencyMs = serializers.IntegerField(allow_null=True)


class ServerUsageSerializer(CountsSerializer):
    serverId = serializers.UUIDField(allow_null=True, help_text="Null once the server is deleted.")
    serverName = serializers.CharField()


class DayUsageSerializer(serializers.Serializer):
    date = serializers.DateField()
    total = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class UsageAlertSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["quota", "budget_cap"])
    threshold = serializers.IntegerField(help_text="Percent of the quota or cap: 80 or 100.")
    createdAt = serializers.DateTimeField()


class PlanSerializer(serializers.Serializer):
    name = serializers.CharField()
    includedCalls = serializers.IntegerField()
    overagePer1000 = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, allow_null=True
    )
    requestsPerMinute = serializers.IntegerField()


class UsageSerializer(CountsSerializer):
    """Usage over whole UTC days (`from`..`to`) and the standing in the current billing period."""

    fromDate = serializers.DateField(help_text="First UTC day covered by the counts.")
    toDate = serializers.DateField(help_text="Last UTC day covered by the counts.")
    periodStart = serializers.DateTimeField()
    periodEnd = serializers.DateTimeField()
    plan = PlanSerializer()
    periodCalls = serializers.IntegerField(help_text="Tool calls counted in the billing period.")
    includedCalls = serializers.IntegerField()
    overageCalls = serializers.IntegerField()
    overageCost = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=False)
    currency = serializers.CharField()
    budgetCap = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False, allow_null=True
    )
    fractionUsed = serializers.FloatField(
        allow_null=True, help_text="Period calls / included calls (past 1 in overage)."
    )
    budgetCapFractionUsed = serializers.FloatField(
        allow_null=True, help_text="Overage cost / budget cap; null without a cap."
    )
    servers = ServerUsageSerializer(many=True)
    days = DayUsageSerializer(many=True)
    alerts = UsageAlertSerializer(many=True)
