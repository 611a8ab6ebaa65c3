# The Clerk organisation a grant was admitted with (a shared server's audience may name it).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('authz', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='authorization',
            name='org_id',
            field=models.CharField(blank=True, default='', max_length=80),
        ),
    ]
