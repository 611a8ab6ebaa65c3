"""Test-only routes that raise each application error through the real handler."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as real_urlpatterns
from core import errors

RAISES = {
    "forbidden": errors.Forbidden("Plan limit reached", details={"limit": 3}),
    "conflict": errors.Conflict("Slug taken", details={"slug": ["taken"]}),
    "rate": errors.RateLimited("Slow down", reason="rate_limit", retry_after=7),
    "upstream": errors.UpstreamFailed("Stripe failed"),
}


class Raise(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request, kind: str) -> Response:
        if kind == "crash":
            raise RuntimeError("secret internals /etc/passwd")
        if kind == "echo":
            return Response({"received": request.data})
        raise RAISES[kind]


urlpatterns = [path("api/test-raise/<str:kind>", Raise.as_view()), *real_urlpatterns]
