"""What a credential type is, and the registry that lists them.

A credential type is one kind of upstream secret (an API key, a bearer token, HTTP basic,
OAuth2 client credentials). Each lives in its own module of this package and declares, in
one place, everything the rest of the app asks about it:

- `type`, the name the API spells (`"apiKey"`), and a human `label`;
- `secret_fields`: what the user sends that is encrypted and never shown again;
- `public_fields`: the other request fields it takes, with their validation (the API refuses
  them for any other type);
- `serves(definition)`: which OpenAPI security schemes it can satisfy;
- `settings_for(...)`: completes and checks the public settings stored with it (where an
  API key goes without a scheme, an OAuth2 token URL taken from the spec);
- `apply(request, credential, context)`: what to add to one outgoing request. It gets the
  whole request (method, URL, headers, query, cookies, body bytes), so a type that signs
  requests (HMAC, SigV4) fits the same interface as one that adds a header.

The API's input validation and its OpenAPI schema (credentials.serializers), the check that a
type fits a spec's scheme and the stored settings (credentials.services), and the injection
into upstream calls (credentials.injection) all ask the registry; none of them names a type.
Adding a type is adding a module here (and its tests): the app imports every module of this
package when it starts (`CredentialsConfig.ready`), and `@register` lists the type. The
public settings a credential stores are the model's columns (`PublicSettings`: location,
param_name, token_url, scopes, authorization_url, revocation_url); a type that needs other
ones needs a place to keep them first.

The registry is a dict; injection resolves each stored credential's type once, when it
loads a server's credentials, and keeps the entry on the decrypted `Secret`, so a call never
looks a type up. A name the registry does not know raises `UnknownCredentialType`: a stored
credential of such a type fails its calls with a clear message instead of being sent as
something else.

Per-caller credentials. `apply` receives the call's `tools.calling.CallContext`: its target
(server, owner) and `caller_id`, the user the call is made for (the gateway passes the key
owner's id for an access key, the grant's user for an OAuth token, none on a public server).
OAuth2 authorization code (`oauth2_authorization_code`) is such a type: the app-level part
(client id and secret, endpoints) is the credential, and each person's tokens are their
`Connection` (credentials.connections), looked up or refreshed for `context.caller_id`;
`CredentialUnavailable` when there is no caller or no linked account.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from core.text import NO_NUL_PATTERN, NOT_BLANK_PATTERN

if TYPE_CHECKING:
    from rest_framework import serializers

    from tools.calling import AuthParts, CallContext, OutgoingRequest


class UnknownCredentialType(LookupError):
    """A credential type name that no module of credentials.types registers."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"Unknown credential type {name!r}; the known types are: {', '.join(known) or 'none'}."
        )
        self.name = name


@dataclass(frozen=True)
class SecretField:
    """A secret the API takes for a type: encrypted with the others, never serialised back.

    `describes` names what it holds for this type ("API key"); a field several types share is
    documented as "The <one> or <other>.". `allow_blank`: an empty value is legal (HTTP
    basic's username); otherwise the field must have content.
    """

    name: str
    describes: str = ""
    allow_blank: bool = False

    @property
    def schema(self) -> dict[str, Any]:
        """Its JSON Schema in the API's documented request."""
        return SECRET_SCHEMA | ({"description": f"The {self.describes}."} if self.describes else {})


@dataclass(frozen=True)
class PublicFields:
    """Non-secret request fields of a type, given all together or not at all.

    `fields` maps each API field name to a factory of its serializer field (validation and
    OpenAPI schema in one).
    """

    fields: Mapping[str, Callable[[], serializers.Field]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)


@dataclass(frozen=True)
class SchemeBinding:
    """The security scheme a new credential is bound to, and the server it is for.

    `name` is "" for a spec that declares no scheme (`definition` is then {}); relative URLs
    in the definition resolve against `base_url`.
    """

    name: str
    definition: Mapping[str, Any]
    base_url: str


@dataclass(frozen=True)
class PublicSettings:
    """The non-secret settings stored with a credential (the model's own columns)."""

    location: str = ""
    param_name: str = ""
    token_url: str = ""
    scopes: tuple[str, ...] = ()
    authorization_url: str = ""
    revocation_url: str = ""


@dataclass(frozen=True)
class Secret:
    """A decrypted credential with its type resolved; `values` never appear in its repr.

    `definition` is the spec's security scheme the credential is bound to ({} without one);
    `secrets` every value to scrub from what is shown or stored (the type decides).
    """

    id: str
    version: int
    scheme: str
    kind: CredentialType
    location: str
    param_name: str
    token_url: str
    scopes: tuple[str, ...]
    definition: Mapping[str, Any]
    values: dict[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    authorization_url: str = ""
    revocation_url: str = ""


def text_schema(max_length: int, description: str = "", **extra: Any) -> dict[str, Any]:
    """JSON Schema of a trimmed text field that must not be blank (secrets set a pattern)."""
    schema = {"type": "string", "minLength": 1, "maxLength": max_length, **extra}
    schema.setdefault("pattern", NOT_BLANK_PATTERN)
    return schema | ({"description": description} if description else {})


SECRET_SCHEMA = text_schema(8192, writeOnly=True, pattern=NO_NUL_PATTERN)


@dataclass(frozen=True)
class RequestShape:
    """One shape of a create request for a type, as JSON Schema properties (for the API docs).

    `required` names the public properties that must be given in this shape (the secret
    fields always must); `with_scheme` says whether the shape may name a security scheme.
    """

    properties: Mapping[str, Any]
    required: tuple[str, ...] = ()
    with_scheme: bool = True


class CredentialType(ABC):
    """The base of every credential type: set the class attributes, `serves` and `apply`."""

    type: ClassVar[str]
    label: ClassVar[str]
    secret_fields: ClassVar[tuple[SecretField, ...]]
    public_fields: ClassVar[tuple[PublicFields, ...]] = ()

    @abstractmethod
    def serves(self, definition: Mapping[str, Any]) -> bool:
        """Whether a credential of this type can satisfy the OpenAPI security scheme."""

    def validate(self, attrs: Mapping[str, Any]) -> dict[str, list[str]]:
        """Errors by field beyond presence (which the serializer checks from the declarations)."""
        return {}

    def settings_for(self, binding: SchemeBinding, given: PublicSettings) -> PublicSettings:
        """The settings to store: `given` completed from the spec; raises ValidationFailed."""
        return given

    def request_shapes(self) -> list[RequestShape]:
        """The request bodies this type takes, as the API's schema documents them."""
        return [RequestShape({secret.name: secret.schema for secret in self.secret_fields})]

    def secret_values(self, values: Mapping[str, str]) -> tuple[str, ...]:
        """Every spelling of the secret to scrub from output (beyond encodings of each)."""
        return tuple(value for value in values.values() if value)

    @abstractmethod
    async def apply(
        self, request: OutgoingRequest, credential: Secret, context: CallContext
    ) -> AuthParts:
        """What to add to `request`; raises tools.calling.CredentialUnavailable if it cannot."""

    def __repr__(self) -> str:
        return f"<credential type {self.type}>"


Kind = TypeVar("Kind", bound=type[CredentialType])


class Registry:
    """The credential types by API name, in the order they were registered."""

    def __init__(self) -> None:
        self._types: dict[str, CredentialType] = {}

    def register(self, kind: CredentialType) -> CredentialType:
        if kind.type in self._types:
            raise ValueError(f"Credential type {kind.type!r} is registered twice.")
        self._types[kind.type] = kind
        return kind

    def unregister(self, name: str) -> None:
        del self._types[name]

    def get(self, name: str) -> CredentialType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownCredentialType(name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._types)

    def all(self) -> list[CredentialType]:
        return list(self._types.values())

    def fitting(self, definition: Mapping[str, Any]) -> list[str]:
        """The types that can serve a security scheme, by name, sorted."""
        return sorted(kind.type for kind in self._types.values() if kind.serves(definition))

    def public_fields(self) -> list[tuple[PublicFields, list[str]]]:
        """Every distinct group of public fields, with the types that take it."""
        groups: dict[tuple[str, ...], tuple[PublicFields, list[str]]] = {}
        for kind in self._types.values():
            for group in kind.public_fields:
                groups.setdefault(group.names, (group, []))[1].append(kind.type)
        return list(groups.values())


registry = Registry()


def register(kind: Kind) -> Kind:
    """Class decorator: list an instance of the type in the registry."""
    registry.register(kind())
    return kind


def type_choices() -> list[tuple[str, str]]:
    """The model field's choices: every registered type (a callable, so no migration per type)."""
    return [(kind.type, kind.label) for kind in registry.all()]
