"""Upstream credentials in the admin: metadata, where each is injected, a new secret.

Neither the secret nor its ciphertext is ever shown. A new secret is typed once into password
fields that are never filled back in, checked and sealed by `credentials.services` as the API
does, and the gateway uses it within seconds. Re-encrypting under the newest key is an action.
People's linked upstream accounts (`Connection`) are listed as metadata only (never a token);
deleting one unlinks it as the API does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import admin_link, check_with_service

from . import connections, services
from .models import Connection, Credential
from .types import registry

SECRET_PREFIX = "secret_"
META_FIELDS = (
    "id",
    "server",
    "owner",
    "name",
    "type",
    "scheme",
    "injected_at",
    "token_url",
    "authorization_url",
    "revocation_url",
    "scopes",
    "key_id",
    "version",
    "created_at",
    "updated_at",
    "last_used_at",
)


class CredentialSecretForm(forms.ModelForm):
    """No model field is edited; the declared `secret_*` fields carry a new secret, if any."""

    class Meta:
        model = Credential
        fields: list[str] = []

    def new_secret(self) -> dict[str, str] | None:
        given = {
            name.removeprefix(SECRET_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(SECRET_PREFIX)
        }
        return given if any(given.values()) else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        secret = self.new_secret()
        if secret is not None:
            kind = registry.get(self.instance.type)
            check_with_service(
                self,
                lambda: services.credential_check_secret(kind=kind, secret=secret),
                {field.name: SECRET_PREFIX + field.name for field in kind.secret_fields},
            )
        return cleaned


def secret_form_for(credential: Credential | None) -> type[CredentialSecretForm]:
    if credential is None:
        return CredentialSecretForm
    attrs: dict[str, Any] = {}
    for field in registry.get(credential.type).secret_fields:
        attrs[SECRET_PREFIX + field.name] = forms.CharField(
            label=f"New {field.describes or field.name}",
            required=False,
            strip=False,
            max_length=services.SECRET_MAX_LENGTH,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        )
    return type("CredentialSecretForm", (CredentialSecretForm,), attrs)


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["name", "type", "scheme", "server", "owner", "key_id", "last_used_at"]
    list_filter = ["type", "key_id"]
    search_fields = ["name", "scheme", "=server__slug", "server__name", "server__user__email"]
    list_select_related = ["server__user"]
    show_full_result_count = False
    readonly_fields = META_FIELDS
    actions = ["reencrypt"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Credential]:
        return (
            super()
            .get_queryset(request)
            .defer("ciphertext")
            .select_related("server__spec", "server__user")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        secrets = [SECRET_PREFIX + field.name for field in registry.get(obj.type).secret_fields]
        return [
            (None, {"fields": META_FIELDS}),
            (
                "Replace the secret",
                {
                    "fields": secrets,
                    "description": "Type the new value once; it is encrypted under the newest "
                    "key and never shown again. Leave empty to keep the current secret.",
                },
            ),
        ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = secret_form_for(obj)
        return super().get_form(request, obj, change, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Owner", ordering="server__user__email")
    def owner(self, obj: Credential) -> str:
        return admin_link(obj.server.user)

    @admin.display(description="Injected as")
    def injected_at(self, obj: Credential) -> str:
        return obj.injected_at

    def save_model(self, request: HttpRequest, obj: Credential, form: Any, change: bool) -> None:
        secret = form.new_secret()
        if secret is not None:
            services.credential_replace_secret(credential=obj, secret=secret)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> Any:
        # The history names what changed, never the secret's value.
        return [{"changed": {"fields": ["secret"]}}] if form.new_secret() else []

    def delete_model(self, request: HttpRequest, obj: Credential) -> None:
        services.credential_delete(user=obj.server.user, credential_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset.select_related("server__user"):
            services.credential_delete(user=credential.server.user, credential_id=credential.pk)

    @admin.action(description="Re-encrypt selected credentials under the newest key")
    def reencrypt(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        result = services.credentials_reencrypt(credentials=queryset)
        self.message_user(
            request,
            f"{result.rotated} credential(s) re-encrypted; {result.current} already used the "
            "newest key.",
            messages.SUCCESS,
        )
        for failure in result.failed:
            self.message_user(request, f"Not re-encrypted: {failure}", messages.ERROR)


CONNECTION_FIELDS = (
    "id",
    "user",
    "server",
    "scheme",
    "status",
    "scopes",
    "access_expires_at",
    "refreshed_at",
    "token_version",
    "key_id",
    "created_at",
    "updated_at",
)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """People's linked upstream accounts: never a token, never the ciphertext."""

    list_display = ["user", "server", "scheme", "status", "access_expires_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["=server__slug", "server__name", "user__email"]
    list_select_related = ["server", "user"]
    show_full_result_count = False
    fields = CONNECTION_FIELDS
    readonly_fields = CONNECTION_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return super().get_queryset(request).defer("ciphertext")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        connections.connection_delete(user=obj.user, connection_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset.select_related("user"):
            connections.connection_delete(user=connection.user, connection_id=connection.pk)
