from django.urls import path

from . import views

urlpatterns = [
    path("specs", views.SpecListView.as_view(), name="specs"),
    path("specs/<uuid:spec_id>", views.SpecDetailView.as_view(), name="spec-detail"),
    path("specs/<uuid:spec_id>/document", views.SpecDocumentView.as_view(), name="spec-document"),
]
