"""Middleware of every Django response: the request id, the /api envelope, the body cap."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import error_body_for_status
from core.observability.logs import request_id_for, request_id_var

Handler = Callable[[HttpRequest], HttpResponse]


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class RequestIdMiddleware:
    """Give the request an id (the client's sane `X-Request-ID`, else a new one) that every
    log line of the request carries and the response returns in `X-Request-ID`."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.META.get("HTTP_X_REQUEST_ID"))
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ApiEnvelopeMiddleware:
    """Turn any non-JSON error under /api (Django's 404/405/500 pages) into the envelope."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not _is_api(request.path) or response.status_code < 400:
            return response
        content_type = response.get("Content-Type", "")
        if content_type.startswith("application/json"):
            return response
        replacement = JsonResponse(
            error_body_for_status(response.status_code), status=response.status_code
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


class RequestSizeLimitMiddleware:
    """Refuse bodies over REQUEST_MAX_BYTES with 413 before anything reads them."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH")
        try:
            too_big = length is not None and int(length) > settings.REQUEST_MAX_BYTES
        except ValueError:
            body = error_body_for_status(400, "Invalid Content-Length header")
            return HttpResponse(json.dumps(body), status=400, content_type="application/json")
        if too_big:
            return JsonResponse(error_body_for_status(413), status=413)
        return self.get_response(request)
