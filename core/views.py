"""Django-level error handlers: JSON envelope under /api, plain pages elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from core.errors import error_body_for_status


def _api(request: HttpRequest) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _api(request):
        return JsonResponse(error_body_for_status(404, "Unknown API path"), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _api(request):
        return JsonResponse(error_body_for_status(500), status=500)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _api(request):
        return JsonResponse(error_body_for_status(400), status=400)
    return defaults.bad_request(request, exception)


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any method on an unknown /api path; exempt from CSRF so a POST is a 404, not a 403."""
    return JsonResponse(error_body_for_status(404, "Unknown API path"), status=404)
