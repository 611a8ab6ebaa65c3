"""What every app's admin shares: the admin writes through the services, and shows their
refusals on the form instead of failing the request."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from core.errors import ApiError


def check_with_service(
    form: forms.BaseForm, check: Callable[[], Any], fields: Mapping[str, str] | None = None
) -> None:
    """Run a service's CHECK; its refusal becomes form errors (API field names → form fields)."""
    try:
        check()
    except ApiError as error:
        fields = fields or {}
        placed = False
        for name, messages in error.details.items():
            field = fields.get(name, name)
            if field in form.fields and isinstance(messages, list):
                form.add_error(field, [str(message) for message in messages])
                placed = True
        if not placed:
            form.add_error(None, error.message)


# --- Buttons on an object's page ----------------------------------------------------------


@dataclass(frozen=True)
class ObjectActionButton:
    name: str
    label: str
    url: str
    confirm: str


def object_action(
    *, label: str, confirm: str = "", when: Callable[[Any], bool] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ModelAdmin method `(self, request, obj)` as a button on the object's page.

    WHEN says whether the button applies to an object (a revoked key has no "Revoke"); the
    button POSTs, with CSRF, and asks CONFIRM first when given.
    """

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        method.object_action_label = label  # type: ignore[attr-defined]
        method.object_action_confirm = confirm  # type: ignore[attr-defined]
        method.object_action_when = when or (lambda obj: True)  # type: ignore[attr-defined]
        return method

    return mark


class ObjectActionsMixin(admin.ModelAdmin):
    """Buttons on a change page that run a service on that object (POST only, then back)."""

    object_actions: Sequence[str] = ()
    change_form_template = "specgate/admin/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_object_action"
        view = self.admin_site.admin_view(self.object_action_view)
        return [path("<path:object_id>/run/<str:action>/", view, name=name), *super().get_urls()]

    def has_object_action_permission(self, request: HttpRequest, obj: Any) -> bool:
        codename = f"{self.opts.app_label}.change_{self.opts.model_name}"
        return self.has_view_permission(request, obj) and request.user.has_perm(codename)

    def object_action_buttons(self, request: HttpRequest, obj: Any) -> list[ObjectActionButton]:
        if obj is None or not self.has_object_action_permission(request, obj):
            return []
        buttons = []
        for name in self.object_actions:
            method = getattr(self, name)
            if method.object_action_when(obj):
                url = reverse(
                    f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
                    "_object_action",
                    args=[quote(obj.pk), name],
                )
                buttons.append(
                    ObjectActionButton(
                        name, method.object_action_label, url, method.object_action_confirm
                    )
                )
        return buttons

    def object_action_view(self, request: HttpRequest, object_id: str, action: str) -> Any:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in self.object_actions:
            raise Http404("No such action")
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("Not found")
        if not self.has_object_action_permission(request, obj):
            raise PermissionDenied
        method = getattr(self, action)
        if not method.object_action_when(obj):
            self.message_user(
                request, f"“{method.object_action_label}” does not apply to {obj}.", messages.ERROR
            )
        else:
            method(request, obj)
        change_url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[quote(obj.pk)],
        )
        return HttpResponseRedirect(change_url)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        obj = self.get_object(request, unquote(object_id))
        extra = {
            **(extra_context or {}),
            "object_actions": self.object_action_buttons(request, obj),
        }
        return super().change_view(request, object_id, form_url, extra)


def admin_link(obj: Any, text: str | None = None) -> str:
    """A link to OBJ's admin page ("" for None)."""
    if obj is None:
        return "-"
    url = reverse(
        f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[quote(obj.pk)]
    )
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def changelist_link(model: type[Model], text: str, **params: Any) -> str:
    """A link to MODEL's admin list filtered by PARAMS."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    query = urlencode({key: str(value) for key, value in params.items()})
    return format_html('<a href="{}?{}">{}</a>', url, query, text)


# --- Filters that stay fast on big tables --------------------------------------------------


class ChosenObjectFilter(admin.RelatedFieldListFilter):
    """Filter by a related object without listing every one of them.

    Lists the chosen object (reached from a link on its own page, e.g. a user's request logs)
    or, when none is chosen, the first CHOICES_SHOWN by the related admin's ordering: one
    small query, where Django's filter lists the whole related table.
    """

    CHOICES_SHOWN = 30

    def has_output(self) -> bool:
        # Always: Django applies only the filters it shows, and one choice would hide it.
        return True

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        related = field.remote_field.model._default_manager.all()
        chosen = [value for value in (self.lookup_val or []) if value]
        if chosen:
            try:
                return [(obj.pk, str(obj)) for obj in related.filter(pk__in=chosen)]
            except (ValueError, ValidationError):
                return []
        ordering = self.field_admin_ordering(field, request, model_admin) or ["-pk"]
        return [(obj.pk, str(obj)) for obj in related.order_by(*ordering)[: self.CHOICES_SHOWN]]


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: on a big table an exact count of a filter can read it all.

    The count ignores the list's ordering and joins, so it can use whatever index fits the
    filter; `capped` tells the pagination template to say "more than" instead of a number.
    CAP rows are 20 pages of 100: deeper than that, a date filter is the way.
    """

    CAP = 2_000
    capped = False

    @cached_property
    def count(self) -> int:
        rows = cast("QuerySet[Any]", self.object_list)
        counted = rows.order_by().select_related(None).values("pk")[: self.CAP + 1].count()
        if counted > self.CAP:
            self.capped = True
            return self.CAP
        return int(counted)


class BigTableAdmin(admin.ModelAdmin):
    """For tables of millions of rows: no full count, no facet counts, no column sorting
    (the list's ordering is the one its indexes serve), a capped page count."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    sortable_by = ()
