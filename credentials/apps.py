from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Upstream credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .types import autodiscover

        autodiscover()
