from django.urls import path

from . import views

urlpatterns = [
    path("billing/checkout", views.CheckoutView.as_view(), name="billing-checkout"),
    path("billing/portal", views.PortalView.as_view(), name="billing-portal"),
    path("billing/subscription", views.SubscriptionView.as_view(), name="billing-subscription"),
    path("billing/budget-cap", views.BudgetCapView.as_view(), name="billing-budget-cap"),
]
