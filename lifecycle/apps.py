from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    """An account's end: deactivation and deletion, across every app that holds its data."""

    name = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"
