"""One error vocabulary and one exception handler for the whole API.

Services raise ApiError subclasses; DRF and Django exceptions are mapped to
the same envelope here, so every /api response has one shape (docs/api.md, errors).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)

STATUS_CODES: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "AUTH_ERROR",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "VALIDATION_ERROR",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT",
    500: "INTERNAL_ERROR",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
}

DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    502: "Upstream failure",
    503: "Service unavailable",
}


class ApiError(Exception):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Invalid request"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApiError):
    pass


class AuthFailed(ApiError):
    status_code = 401
    code = "AUTH_ERROR"
    default_message = "Authentication required"


class Forbidden(ApiError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "Not allowed"


class NotFound(ApiError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class Conflict(ApiError):
    status_code = 409
    code = "CONFLICT"
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Request body too large"


class RateLimited(ApiError):
    status_code = 429
    code = "RATE_LIMIT"
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, reason: str, retry_after: int, **extra: Any):
        retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            details={"reason": reason, "retryAfterSeconds": retry_after, **extra},
            headers={"Retry-After": str(retry_after)},
        )


class UpstreamFailed(ApiError):
    status_code = 502
    code = "UPSTREAM_ERROR"
    default_message = "Upstream failure"


class InternalError(ApiError):
    status_code = 500
    code = "INTERNAL_ERROR"
    default_message = "Internal server error"


class ServiceUnavailable(ApiError):
    """A dependency is down or a feature is not configured; `reason` says which.

    `retry_after` (seconds) marks the condition as transient: it is sent as Retry-After and
    `details.retryAfterSeconds`. A feature that is not configured gets neither.
    """

    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "Service temporarily unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        details: dict[str, Any] = {"reason": reason, **extra}
        headers: dict[str, str] = {}
        if retry_after is not None:
            retry_after = max(1, int(retry_after))
            details["retryAfterSeconds"] = retry_after
            headers["Retry-After"] = str(retry_after)
        super().__init__(message, details=details, headers=headers)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message, "details": details or {}}}


def error_body_for_status(status: int, message: str | None = None) -> dict[str, Any]:
    return error_body(
        STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"),
        message or DEFAULT_MESSAGES.get(status, "Error"),
    )


def _validation_details(detail: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten DRF's nested error detail into {"field.path": ["message", ...]}."""
    fields: dict[str, Any] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and not prefix:
                name = "body"
            fields.update(_validation_details(value, name))
    elif isinstance(detail, list) and detail and all(isinstance(d, (dict, list)) for d in detail):
        for index, value in enumerate(detail):
            fields.update(_validation_details(value, f"{prefix}[{index}]"))
    elif isinstance(detail, list):
        fields[prefix or "body"] = [str(item) for item in detail]
    else:
        fields[prefix or "body"] = [str(detail)]
    return fields


def www_authenticate(authorization: str | None) -> str:
    """The challenge of a 401: which error (RFC 6750) depends on what the client sent."""
    challenge = 'Bearer realm="api"'
    if not authorization:
        return challenge
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return challenge + ', error="invalid_request"'
    return challenge + ', error="invalid_token"'


def _authorization_of(context: dict[str, Any]) -> str | None:
    request = context.get("request")
    return getattr(request, "META", {}).get("HTTP_AUTHORIZATION") if request else None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ApiError):
        headers = dict(exc.headers)
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = www_authenticate(_authorization_of(context))
        return Response(
            error_body(exc.code, exc.message, exc.details),
            status=exc.status_code,
            headers=headers,
        )
    if isinstance(exc, Http404):
        return Response(error_body("NOT_FOUND", "Not found"), status=404)
    if isinstance(exc, PermissionDenied):
        return Response(error_body("FORBIDDEN", "Not allowed"), status=403)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body_for_status(413), status=413)
    if isinstance(exc, drf.ParseError):
        return Response(
            error_body("VALIDATION_ERROR", "Malformed request body", {"body": [str(exc.detail)]}),
            status=400,
        )
    if isinstance(exc, drf.ValidationError):
        return Response(
            error_body("VALIDATION_ERROR", "Invalid request", _validation_details(exc.detail)),
            status=400,
        )
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        message = str(exc.detail) if isinstance(exc, drf.AuthenticationFailed) else None
        return Response(
            error_body("AUTH_ERROR", message or "Authentication required"),
            status=401,
            headers={"WWW-Authenticate": www_authenticate(_authorization_of(context))},
        )
    if isinstance(exc, drf.Throttled):
        wait = int(getattr(exc, "wait", None) or 1)
        return Response(
            error_body(
                "RATE_LIMIT",
                "Too many requests",
                {"reason": "rate_limit", "retryAfterSeconds": wait},
            ),
            status=429,
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, drf.APIException):
        status = exc.status_code
        return Response(error_body_for_status(status, str(exc.detail)), status=status)
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(error_body_for_status(500), status=500)
