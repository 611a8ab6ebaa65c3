# Authorization codes are stored as their SHA-256 from now on: hash the codes not yet
# exchanged (they live under a minute, but one may be in flight during the deploy).

import hashlib

from django.db import migrations
from oauth2_provider.settings import oauth2_settings


def hash_codes(apps, schema_editor):
    app_label, model_name = oauth2_settings.GRANT_MODEL.split(".")
    grant_model = apps.get_model(app_label, model_name)
    for pk, code in grant_model.objects.values_list("pk", "code"):
        if len(code) != 64:  # a SHA-256 in hex is 64 characters; oauthlib's codes are 30
            digest = hashlib.sha256(code.encode()).hexdigest()
            grant_model.objects.filter(pk=pk).update(code=digest)


class Migration(migrations.Migration):

    dependencies = [
        ("authz", "0003_grant_tools_and_used_codes"),
        migrations.swappable_dependency(oauth2_settings.GRANT_MODEL),
    ]

    operations = [migrations.RunPython(hash_codes, migrations.RunPython.noop)]
