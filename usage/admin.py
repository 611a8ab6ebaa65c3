"""Request logs and usage rollups in the admin: read-only, and fast at millions of rows.

Every list and filter here is served by an index in the order the list shows (newest
first), so a page reads about one page of index entries: no date bar (its month grouping
scans the whole table), no exact counts (`core.admin.BigTableAdmin` counts at most 2,000),
no facet counts, no column sorting, and no filter that lists the values of a column. The
user and server filters list only the chosen one (reached from the user's or server's page);
the method filter needs a user (the per-user index serves it).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import BigTableAdmin, ChosenObjectFilter, admin_link

from .histogram import BOUNDS_MS, percentile
from .models import STATUS_CLASS, RequestLog, UsageAlert, UsageDaily


class ReadOnlyAdmin(admin.ModelAdmin):
    """Operators read usage; only the recorder writes it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StatusFilter(admin.SimpleListFilter):
    """HTTP status by class. A 4xx, a 5xx or no response is never a success: those go through
    the index of failed calls by status class (`log_failed_class_newest`), newest first."""

    title = "status"
    parameter_name = "status"
    CLASSES = {
        "2xx": Q(succeeded=True, status_code__gte=200, status_code__lt=300),
        "4xx": Q(succeeded=False, status_class=4),
        "5xx": Q(succeeded=False, status_class=5),
        "none": Q(succeeded=False, status_class__isnull=True),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("2xx", "2xx success"),
            ("4xx", "4xx client error"),
            ("5xx", "5xx upstream error"),
            ("none", "No response (timeout, refused)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        condition = self.CLASSES.get(self.value() or "")
        if condition is None:
            return queryset
        return queryset.alias(status_class=STATUS_CLASS).filter(condition)


class MethodFilter(admin.SimpleListFilter):
    """HTTP method, for one chosen user (served by their per-method index)."""

    title = "method (choose a user first)"
    parameter_name = "method"
    METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    def has_output(self) -> bool:
        return bool(self.used_parameters) or self._user_chosen

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self._user_chosen = "user__id__exact" in request.GET
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(method, method) for method in self.METHODS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(method=self.value()) if self.value() else queryset


@admin.register(RequestLog)
class RequestLogAdmin(BigTableAdmin, ReadOnlyAdmin):
    # Short columns, so a row fits 1440 px with the filters beside it.
    list_display = [
        "when",
        "user",
        "server_name",
        "tool_name",
        "source",
        "method",
        "status",
        "ms",
        "error_code",
        "key",
    ]
    list_display_links = ["when"]
    list_filter = [
        ("created_at", admin.DateFieldListFilter),
        ("user", ChosenObjectFilter),
        ("server", ChosenObjectFilter),
        StatusFilter,
        "succeeded",
        "source",
        MethodFilter,
    ]
    list_select_related = ["user"]
    list_per_page = 100
    ordering = ["-created_at", "-id"]
    fields = (
        "id",
        "created_at",
        "user_link",
        "server_link",
        "server_name",
        "tool_link",
        "tool_name",
        "source",
        "method",
        "path",
        "status_code",
        "succeeded",
        "error_code",
        "duration_ms",
        "upstream_ms",
        "request_bytes",
        "response_bytes",
        "key",
        "caller_email",
        "client_name",
    )
    readonly_fields = fields

    @admin.display(description="When (UTC)")
    def when(self, obj: RequestLog) -> str:
        return obj.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Status")
    def status(self, obj: RequestLog) -> Any:
        return obj.status_code if obj.status_code is not None else "none"

    @admin.display(description="ms")
    def ms(self, obj: RequestLog) -> int:
        return obj.duration_ms

    @admin.display(description="Key")
    def key(self, obj: RequestLog) -> str:
        """The access key's prefix, linking to the key (the server's keys with that prefix)."""
        if not obj.key_prefix:
            return "-"
        url = reverse("admin:servers_accesskey_changelist")
        if obj.server_id is None:
            return obj.key_prefix
        return format_html(
            '<a href="{}?server__id__exact={}&amp;prefix={}">{}</a>',
            url,
            obj.server_id,
            obj.key_prefix,
            obj.key_prefix,
        )

    @admin.display(description="User")
    def user_link(self, obj: RequestLog) -> str:
        return admin_link(obj.user)

    @admin.display(description="Server")
    def server_link(self, obj: RequestLog) -> str:
        return admin_link(obj.server) if obj.server_id else "(deleted)"

    @admin.display(description="Tool")
    def tool_link(self, obj: RequestLog) -> str:
        return admin_link(obj.tool) if obj.tool_id else "(deleted)"


def _latency_table(histogram: list[int]) -> str:
    labels = [f"≤ {bound} ms" for bound in BOUNDS_MS] + [f"> {BOUNDS_MS[-1]} ms"]
    rows = [(label, f"{count:,}") for label, count in zip(labels, histogram, strict=True) if count]
    if not rows:
        return "-"
    body = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows)
    return format_html('<table class="specgate-table">{}</table>', body)


@admin.register(UsageDaily)
class UsageDailyAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = [
        "day",
        "user",
        "server_name",
        "source",
        "calls",
        "failed",
        "average_ms",
        "p50_ms",
        "p95_ms",
    ]
    list_filter = [("day", admin.DateFieldListFilter), ("user", ChosenObjectFilter), "source"]
    list_select_related = ["user"]
    ordering = ["-day", "server_name"]
    fields = (
        "day",
        "user_link",
        "server_name",
        "server_uuid",
        "source",
        "calls",
        "succeeded",
        "failed",
        "average_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "latency",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="User")
    def user_link(self, obj: UsageDaily) -> str:
        return admin_link(obj.user)

    @admin.display(description="avg ms")
    def average_ms(self, obj: UsageDaily) -> str:
        return str(round(obj.duration_ms_total / obj.calls)) if obj.calls else "-"

    @admin.display(description="p50 ms")
    def p50_ms(self, obj: UsageDaily) -> Any:
        return percentile(obj.histogram(), 0.5)

    @admin.display(description="p95 ms")
    def p95_ms(self, obj: UsageDaily) -> Any:
        return percentile(obj.histogram(), 0.95)

    @admin.display(description="p99 ms")
    def p99_ms(self, obj: UsageDaily) -> Any:
        return percentile(obj.histogram(), 0.99)

    @admin.display(description="Latency (calls per bucket)")
    def latency(self, obj: UsageDaily) -> str:
        return _latency_table(obj.histogram())


@admin.register(UsageAlert)
class UsageAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "threshold", "period_start"]
    list_filter = ["kind", "threshold"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    show_full_result_count = False
