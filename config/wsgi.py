import os

import django
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)
from core.observability.instrumentation import start_tracing  # noqa: E402

start_tracing(service_name="specgate-web", web=True)
application = get_wsgi_application()
