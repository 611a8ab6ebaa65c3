"""Bounded validation with openapi-spec-validator.

The validator checks the document against the OpenAPI metaschema and then semantically
(reference targets, parameter/path agreement, defaults against schemas). It costs about
70 microseconds per JSON container (stripe.com, 2.5 MB: 2.4 s), so ``convert`` runs it only for
documents up to ``FULL_VALIDATION_CONTAINERS``; bigger ones are checked by the conversion
itself, which reports anything it cannot use as warnings. ``validate_document`` can be run
separately (e.g. in a background job) with a cap on the number of problems.

openapi-spec-validator (with pydantic, jsonschema-path and requests behind it) is imported on
the first validation, not with the engine: the gateway imports the engine to build requests
and never validates a document, and a web worker that never converts a spec saves the memory.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema_path import SchemaPath

from .refs import join_pointer, without_external_refs

FULL_VALIDATION_CONTAINERS = 8_000
MAX_PROBLEMS = 50
VALIDATION_STOPPED = (
    "Validation stopped early: part of the document does not have the shape OpenAPI requires "
    "(the other warnings point at it)."
)


@functools.cache
def _validators() -> dict[str, Any]:
    """The validator class per format, built (and openapi-spec-validator imported) once."""
    from lazy_object_proxy import Proxy
    from openapi_spec_validator import (
        OpenAPIV2SpecValidator,
        OpenAPIV30SpecValidator,
        OpenAPIV31SpecValidator,
    )
    from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31
    from openapi_spec_validator.schemas.backend.jsonschema import create_validator

    def python_backend(schema: Any) -> Any:
        # openapi-spec-validator switches to jsonschema-rs whenever that package is installed
        # (a dev tool brings it in), and its messages read differently: always the same backend.
        return Proxy(partial(create_validator, schema))

    class _V2(OpenAPIV2SpecValidator):
        schema_validator = python_backend(schema_v2)

    class _V30(OpenAPIV30SpecValidator):
        schema_validator = python_backend(schema_v30)

    class _V31(OpenAPIV31SpecValidator):
        schema_validator = python_backend(schema_v31)

    return {"swagger-2.0": _V2, "openapi-3.0": _V30, "openapi-3.1": _V31}


def validate_document(
    document: dict[str, Any], fmt: str, *, max_problems: int = MAX_PROBLEMS
) -> list[dict[str, str]]:
    """openapi-spec-validator's findings as ``{pointer, message}``, at most ``max_problems``.

    External references are reported and replaced before the validator sees the document,
    and the validator's resolver refuses to retrieve anything, so validating never fetches a
    URL or opens a file.
    """
    problems: list[dict[str, str]] = []

    def report(pointer: str, message: str) -> None:
        problems.append({"pointer": pointer, "message": message})

    document = without_external_refs(document, report)
    try:
        with warnings.catch_warnings():
            # The validator compiles spec patterns with Python's re and warns about ECMA-isms.
            warnings.simplefilter("ignore")
            for error in _iter_errors(_validators()[fmt](offline_schema_path(document))):
                report(_pointer(error), _message(error))
                if len(problems) >= max_problems:
                    break
    except Unresolvable as exc:
        report("", _unresolvable_message(exc))
    except RecursionError:
        report("", "The document is too deeply self-referencing.")
    except Exception:  # a validator bug must not make a document unusable
        # It fails with KeyError, AssertionError, ... on some malformed documents; the
        # exception says nothing a user can act on, the other findings do.
        report("", VALIDATION_STOPPED)
    return problems[:max_problems]


def _refuse_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(uri)


def offline_schema_path(document: dict[str, Any]) -> SchemaPath:
    """The document as the validator walks it, with a resolver that can never retrieve."""
    from jsonschema_path import SchemaPath
    from jsonschema_path.accessors import SchemaAccessor

    registry: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    registry = registry.with_resource("", DRAFT202012.create_resource(document))
    return SchemaPath(SchemaAccessor(document, registry.resolver(base_uri="")))


def _unresolvable_message(exc: Unresolvable) -> str:
    # The library's own text quotes the whole document it searched; name the reference only.
    ref = str(getattr(exc, "ref", "") or "")[:200]
    if ref.startswith("/"):
        ref = "#" + ref
    return f"Reference {ref!r} does not resolve inside the document."


def _iter_errors(validator: Any) -> Iterator[ValidationError]:
    # SpecValidator.iter_errors memoises its results on the validator class for the life of
    # the process; the two underlying steps are called directly so nothing is retained.
    yield from validator.schema_validator.iter_errors(validator.schema)
    yield from validator.root_validator(validator.schema_path)


def _pointer(error: ValidationError) -> str:
    return join_pointer("", *error.absolute_path)


def _message(error: ValidationError) -> str:
    message = error.message
    if error.context:
        # For oneOf/anyOf failures the most specific sub-error says what is actually wrong.
        best = min(error.context, key=lambda sub: (-len(sub.absolute_path), sub.message))
        message = f"{message[:200]} ({best.message[:200]})"
    return message[:500]
