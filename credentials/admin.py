from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Metadata only: neither the secret nor its ciphertext is ever shown or editable here.

    Deleting goes through `credentials.services`, which tells the gateway (the next calls go
    out without the credential within seconds); replacing one is the user's, through the API.
    """

    list_display = ["name", "type", "scheme", "server", "key_id", "created_at", "last_used_at"]
    list_filter = ["type", "key_id"]
    search_fields = ["name", "scheme", "server__slug", "server__name", "server__user__email"]
    fields = (
        "id",
        "server",
        "name",
        "type",
        "scheme",
        "location",
        "param_name",
        "token_url",
        "scopes",
        "key_id",
        "version",
        "created_at",
        "updated_at",
        "last_used_at",
    )
    readonly_fields = fields
    list_select_related = ["server"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Credential]:
        return super().get_queryset(request).defer("ciphertext")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Credential) -> None:
        services.credential_delete(user=obj.server.user, credential_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset.select_related("server__user"):
            services.credential_delete(user=credential.server.user, credential_id=credential.pk)
