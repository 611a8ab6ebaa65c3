from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "servers"
    verbose_name = "Servers and access keys"
    default_auto_field = "django.db.models.BigAutoField"
