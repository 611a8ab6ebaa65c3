from django.urls import path

from . import views

urlpatterns = [
    path("tokens", views.ApiTokenListView.as_view(), name="tokens"),
    path("tokens/<uuid:token_id>", views.ApiTokenDetailView.as_view(), name="token-detail"),
]
