from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from core import schema  # noqa: F401  registers the OpenAPI auth extension
        from core.observability import metrics

        metrics.configure(enabled=bool(settings.METRICS_TOKEN))
