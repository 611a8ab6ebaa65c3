from django.apps import AppConfig


class ToolTestsConfig(AppConfig):
    name = "tooltests"
    verbose_name = "Tool tests"
    default_auto_field = "django.db.models.BigAutoField"
