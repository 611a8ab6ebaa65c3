from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage and request logs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .recorder import recorder
        from .services import AlertWatcher

        recorder.listeners.append(AlertWatcher())
