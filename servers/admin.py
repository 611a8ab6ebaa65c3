from django.contrib import admin

from .models import AccessKey, Server


class AccessKeyInline(admin.TabularInline):
    model = AccessKey
    fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "user", "status", "visibility", "created_at"]
    list_filter = ["status", "visibility"]
    search_fields = ["slug", "name", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["id", "user", "spec", "config_version", "created_at", "updated_at"]
    fields = [
        "id",
        "user",
        "spec",
        "name",
        "slug",
        "description",
        "base_url",
        "status",
        "visibility",
        "config_version",
        "created_at",
        "updated_at",
    ]
    inlines = [AccessKeyInline]

    def has_add_permission(self, request):
        return False


@admin.register(AccessKey)
class AccessKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "server", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "server__slug", "server__user__email"]
    list_select_related = ["server"]
    readonly_fields = ["id", "server", "name", "prefix", "created_at", "last_used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False
