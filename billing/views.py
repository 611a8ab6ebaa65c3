from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import user_of
from core.schema import error_responses

from . import services
from .selectors import plan_for_user, subscription_summary
from .serializers import (
    BudgetCapSerializer,
    BudgetCapUpdateSerializer,
    CheckoutRequestSerializer,
    CheckoutSessionSerializer,
    PortalSessionSerializer,
    SubscriptionSerializer,
)


class BillingView(GenericAPIView):
    # Billing must stay reachable for a user who hit a limit, so it is never rate-limited.
    throttle_classes = []
    pagination_class = None


class CheckoutView(BillingView):
    serializer_class = CheckoutRequestSerializer

    @extend_schema(
        operation_id="billing_checkout",
        summary="Start a Stripe Checkout session for a paid plan",
        request=CheckoutRequestSerializer,
        responses={200: CheckoutSessionSerializer, **error_responses(409, 502, 503)},
    )
    def post(self, request: Request) -> Response:
        payload = CheckoutRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session = services.checkout_session_create(
            user=user_of(request), plan_id=payload.validated_data["planId"]
        )
        return Response(CheckoutSessionSerializer(session).data)


class PortalView(BillingView):
    serializer_class = PortalSessionSerializer

    @extend_schema(
        operation_id="billing_portal",
        summary="Open a Stripe Billing Portal session",
        request=None,
        responses={200: PortalSessionSerializer, **error_responses(404, 502, 503)},
    )
    def post(self, request: Request) -> Response:
        url = services.portal_session_create(user=user_of(request))
        return Response(PortalSessionSerializer({"url": url}).data)


class SubscriptionView(BillingView):
    serializer_class = SubscriptionSerializer

    @extend_schema(
        operation_id="billing_subscription",
        summary="The plan in force, its subscription status and current period",
        responses=SubscriptionSerializer,
    )
    def get(self, request: Request) -> Response:
        summary = subscription_summary(user_id=user_of(request).pk)
        return Response(SubscriptionSerializer(summary).data)


class BudgetCapView(BillingView):
    serializer_class = BudgetCapSerializer

    def _body(self, request: Request) -> Response:
        cap = plan_for_user(user_id=user_of(request).pk).budget_cap
        body = {"budgetCap": None if cap is None else float(cap), "currency": "EUR"}
        return Response(BudgetCapSerializer(body).data)

    @extend_schema(
        operation_id="billing_budget_cap_get",
        summary="The monthly overage budget cap",
        responses=BudgetCapSerializer,
    )
    def get(self, request: Request) -> Response:
        return self._body(request)

    @extend_schema(
        operation_id="billing_budget_cap_set",
        summary="Set (or with null remove) the overage budget cap, 0 to 10,000 EUR",
        request=BudgetCapUpdateSerializer,
        responses=BudgetCapSerializer,
    )
    def put(self, request: Request) -> Response:
        payload = BudgetCapUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.budget_cap_set(
            user=user_of(request), budget_cap=payload.validated_data["budgetCap"]
        )
        return self._body(request)
