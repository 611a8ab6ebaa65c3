from django.urls import path

from . import views

urlpatterns = [
    path("logs", views.LogListView.as_view(), name="logs"),
    path("usage", views.UsageView.as_view(), name="usage"),
]
