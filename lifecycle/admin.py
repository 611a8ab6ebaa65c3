"""Users in the admin: everything about one user on their page, and their account's end.

Deactivating a user is an action (and a button) that runs `lifecycle.services.user_deactivate`,
the same shutdown a Clerk `user.deleted` event triggers; `is_active`, the Clerk id and
revocation times are never edited by hand, so nothing can be switched back on behind the
services' back. Deleting is refused for a user with request logs or a Stripe customer (the
confirmation would walk every log, and the subscription depends on the row): deactivate them,
and the logs expire with the retention period.

Operators are users too: they sign in with their email address (accounts.backends); adding one
here asks for an email and a password, and makes up their Clerk id.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from accounts.models import ApiToken, User, operator_clerk_id, staff_with_email
from billing.models import BillingAccount
from core.admin import ObjectActionsMixin, admin_link, changelist_link, object_action
from credentials.models import Credential
from servers.models import AccessKey, Server
from tooltests.models import ToolTest
from usage.models import RequestLog
from usage.selectors import period_standing

from . import services

# Permissions are per operator (superuser or not); groups are not used.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)

ROWS_SHOWN = 50


class OperatorCreationForm(forms.ModelForm):
    """A new operator: an email to sign in with and a password; the Clerk id is made up."""

    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password (again)", strip=False, widget=forms.PasswordInput)

    class Meta:
        model = User
        fields = ["email", "first_name", "last_name", "is_superuser"]

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip()
        if not email:
            raise forms.ValidationError("Operators sign in with their email address: required.")
        if staff_with_email(email).exists():
            raise forms.ValidationError("An operator with this email address already exists.")
        return email

    def clean_password2(self) -> str:
        first, second = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if first and second and first != second:
            raise forms.ValidationError("The two passwords differ.")
        if second:
            validate_password(second, User(email=self.cleaned_data.get("email", "")))
        return second or ""

    def save(self, commit: bool = True) -> User:
        user: User = super().save(commit=False)
        user.clerk_id = operator_clerk_id()
        user.is_staff = True
        user.set_password(self.cleaned_data["password1"])
        if commit:
            user.save()
        return user


def _table(headers: list[str], rows: list[tuple[Any, ...]], more: bool) -> str:
    if not rows:
        return "None"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>" + "<td>{}</td>" * len(headers) + "</tr>", (row for row in rows)
    )
    note = f"first {ROWS_SHOWN} shown" if more else ""
    return format_html('<table class="specgate-table"><tr>{}</tr>{}</table>{}', head, body, note)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@admin.register(User)
class UserAdmin(ObjectActionsMixin, BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "first_name", "last_name", "is_active", "is_staff", "created_at"]
    list_filter = ["is_active", "is_staff"]
    search_fields = ["email", "=clerk_id", "first_name", "last_name"]
    show_full_result_count = False
    readonly_fields = [
        "id",
        "clerk_id",
        "is_active",
        "created_at",
        "updated_at",
        "last_login",
        "deactivated_at",
        "see_also",
        "plan_and_usage",
        "servers_table",
        "access_keys_table",
        "api_tokens_table",
        "credentials_table",
    ]
    fieldsets = [
        (None, {"fields": ["id", "clerk_id", "email", "first_name", "last_name", "see_also"]}),
        ("Plan and usage", {"fields": ["plan_and_usage"]}),
        (
            "What they have",
            {
                "fields": [
                    "servers_table",
                    "access_keys_table",
                    "api_tokens_table",
                    "credentials_table",
                ]
            },
        ),
        (
            "Status",
            {"fields": ["is_active", "deactivated_at", "created_at", "updated_at", "last_login"]},
        ),
        ("Operator access", {"fields": ["is_staff", "is_superuser", "password"]}),
    ]
    add_form = OperatorCreationForm
    add_fieldsets = [
        (
            "New operator (signs in with this email)",
            {
                "fields": [
                    "email",
                    "first_name",
                    "last_name",
                    "is_superuser",
                    "password1",
                    "password2",
                ]
            },
        )
    ]
    filter_horizontal = []
    actions = ["deactivate"]
    object_actions = ["deactivate_one"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.readonly_fields) if obj is not None else []

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        # Bulk delete would build the confirmation tree of every log: deactivate instead.
        actions.pop("delete_selected", None)
        return actions

    # --- everything about one user (each a bounded query) -------------------------------

    @admin.display(description="See also")
    def see_also(self, obj: User) -> str:
        links = [
            changelist_link(RequestLog, "Request logs", user__id__exact=obj.pk),
            changelist_link(ToolTest, "Tool tests", user__id__exact=obj.pk),
            changelist_link(Server, "Servers", user__id__exact=obj.pk),
            changelist_link(AccessKey, "Access keys", server__user__id__exact=obj.pk),
            changelist_link(ApiToken, "API tokens", user__id__exact=obj.pk),
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links))

    @admin.display(description="Plan and this period's usage")
    def plan_and_usage(self, obj: User) -> str:
        account = BillingAccount.objects.filter(user=obj).first()
        standing = period_standing(obj.pk)
        plan = standing.plan
        used = f"{standing.calls:,} of {plan.included_calls:,} included calls"
        if standing.quota_fraction is not None:
            used += f" ({standing.quota_fraction:.0%})"
        if standing.overage_calls:
            used += f"; {standing.overage_calls:,} over (€{standing.overage_cost})"
        cap = f"€{plan.budget_cap}" if plan.budget_cap is not None else "none"
        billing = (
            format_html(
                "{} · subscription {} · Stripe customer {}",
                admin_link(account, "billing account"),
                account.subscription_status or "none",
                account.stripe_customer_id or "none",
            )
            if account is not None
            else "No billing account (free plan)"
        )
        return format_html(
            "Plan <b>{}</b>, period {} to {}<br>{}<br>Budget cap: {}<br>{}",
            plan.name,
            _when(plan.period_start),
            _when(plan.period_end),
            used,
            cap,
            billing,
        )

    @admin.display(description="Servers")
    def servers_table(self, obj: User) -> str:
        servers = list(Server.objects.filter(user=obj).order_by("-created_at")[: ROWS_SHOWN + 1])
        rows = [
            (
                admin_link(s, s.slug),
                s.name,
                s.status,
                changelist_link(RequestLog, "logs", server__id__exact=s.pk),
            )
            for s in servers[:ROWS_SHOWN]
        ]
        return _table(["Server", "Name", "Status", ""], rows, len(servers) > ROWS_SHOWN)

    @admin.display(description="Access keys")
    def access_keys_table(self, obj: User) -> str:
        keys = list(
            AccessKey.objects.filter(server__user=obj)
            .select_related("server")
            .order_by("-created_at")[: ROWS_SHOWN + 1]
        )
        rows = [
            (
                admin_link(k, k.name),
                k.prefix,
                k.server.slug,
                _when(k.last_used_at),
                "revoked " + _when(k.revoked_at) if k.revoked_at else "active",
            )
            for k in keys[:ROWS_SHOWN]
        ]
        return _table(
            ["Key", "Prefix", "Server", "Last used", "State"], rows, len(keys) > ROWS_SHOWN
        )

    @admin.display(description="API tokens")
    def api_tokens_table(self, obj: User) -> str:
        tokens = list(ApiToken.objects.filter(user=obj).order_by("-created_at")[: ROWS_SHOWN + 1])
        rows = [
            (
                admin_link(t, t.name),
                t.prefix,
                _when(t.expires_at),
                _when(t.last_used_at),
                "revoked " + _when(t.revoked_at) if t.revoked_at else "active",
            )
            for t in tokens[:ROWS_SHOWN]
        ]
        return _table(
            ["Token", "Prefix", "Expires", "Last used", "State"], rows, len(tokens) > ROWS_SHOWN
        )

    @admin.display(description="Credentials (metadata)")
    def credentials_table(self, obj: User) -> str:
        credentials = list(
            Credential.objects.filter(server__user=obj)
            .defer("ciphertext")
            .select_related("server__spec")
            .order_by("-created_at")[: ROWS_SHOWN + 1]
        )
        rows = [
            (admin_link(c, c.name), c.get_type_display(), c.server.slug, c.injected_at)
            for c in credentials[:ROWS_SHOWN]
        ]
        return _table(
            ["Credential", "Type", "Server", "Injected as"], rows, len(credentials) > ROWS_SHOWN
        )

    # --- the account's end --------------------------------------------------------------

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Refuse, without walking their rows, to delete users with logs or a Stripe customer.

        Others (operators, users who never called anything) get Django's usual summary.
        """
        users = list(objs)
        blocked = [reason for user in users if (reason := self._undeletable(user))]
        if blocked:
            return [], {}, set(), blocked
        deleted, counts, _, protected = super().get_deleted_objects(users, request)
        # What is never deleted on its own (keys, tokens, billing) goes with its user.
        return deleted, counts, set(), protected

    @staticmethod
    def _undeletable(user: User) -> str:
        if RequestLog.objects.filter(user=user).exists():
            return (
                f"{user} has request logs: deactivate the user instead (their logs expire "
                "with the retention period)"
            )
        account = BillingAccount.objects.filter(user=user).first()
        if account is not None and (account.stripe_customer_id or account.stripe_subscription_id):
            return f"{user} has a Stripe customer, which their billing depends on: deactivate"
        return ""

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_delete(user=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_delete(user=user)

    @admin.action(description="Deactivate selected users (disable servers, revoke keys)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.filter(is_active=True))
        for user in users:
            services.user_deactivate(user=user)
        self.message_user(request, f"{len(users)} user(s) deactivated", messages.SUCCESS)

    @object_action(
        label="Deactivate",
        confirm="Deactivate this user? Their servers are disabled, keys and tokens revoked, "
        "credentials deleted and subscription cancelled.",
        when=lambda user: user.is_active,
    )
    def deactivate_one(self, request: HttpRequest, obj: User) -> None:
        services.user_deactivate(user=obj)
        self.message_user(request, f"{obj} deactivated.", messages.SUCCESS)
