from django.urls import path

from . import views

urlpatterns = [
    path("webhooks/stripe", views.StripeWebhookView.as_view(), name="webhooks-stripe"),
    path("webhooks/clerk", views.ClerkWebhookView.as_view(), name="webhooks-clerk"),
]
