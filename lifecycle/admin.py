"""Users in the admin.

Deactivating a user is an action that runs `lifecycle.services.user_deactivate`, the same
shutdown a Clerk `user.deleted` event triggers; `is_active` and revocation times are never
edited by hand, so nothing can be switched back on behind the services' back.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User

from . import services


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "clerk_id", "first_name", "last_name", "is_active", "created_at"]
    list_filter = ["is_active", "is_staff"]
    search_fields = ["email", "clerk_id", "first_name", "last_name"]
    readonly_fields = [
        "id",
        "clerk_id",
        "is_active",
        "created_at",
        "updated_at",
        "last_login",
        "deactivated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "clerk_id", "email", "first_name", "last_name"]}),
        (
            "Status",
            {"fields": ["is_active", "deactivated_at", "created_at", "updated_at", "last_login"]},
        ),
        ("Operator access", {"fields": ["is_staff", "is_superuser", "password"]}),
    ]
    add_fieldsets = [(None, {"fields": ["clerk_id", "email", "password1", "password2"]})]
    filter_horizontal = []
    actions = ["deactivate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The Clerk id is the user's identity: set once, when an operator account is added.
        return list(self.readonly_fields) if obj is not None else []

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
