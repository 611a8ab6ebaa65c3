from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "clerk_id", "first_name", "last_name", "is_active", "created_at"]
    list_filter = ["is_active", "is_staff"]
    search_fields = ["email", "clerk_id", "first_name", "last_name"]
    readonly_fields = ["id", "created_at", "updated_at", "last_login", "deactivated_at"]
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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__email", "user__clerk_id"]
    readonly_fields = ["id", "user", "name", "prefix", "created_at", "expires_at", "last_used_at"]
    exclude = ["token_hash"]

    def has_add_permission(self, request):
        return False
