# A grant's tool allowlist (as an access key's); the codes already exchanged, by their hash.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('authz', '0002_authorization_org_id'),
        ('tools', '0001_initial'),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='authorization',
            name='restricts_tools',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='authorization',
            name='tools',
            field=models.ManyToManyField(blank=True, related_name='+', to='tools.tool'),
        ),
        migrations.CreateModel(
            name='UsedCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code_hash', models.CharField(max_length=64, unique=True)),
                ('expires', models.DateTimeField(db_index=True)),
                ('application', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.OAUTH2_PROVIDER_APPLICATION_MODEL)),
                ('authorization', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='authz.authorization')),
            ],
        ),
    ]
