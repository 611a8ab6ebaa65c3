# Who called with an OAuth access token, for the server's owner. On PostgreSQL the column is
# added to the partitioned table and so to every partition, with a constant default (no
# table rewrite).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('usage', '0005_partition_request_logs_by_day'),
    ]

    operations = [
        migrations.AddField(
            model_name='requestlog',
            name='caller_email',
            field=models.CharField(blank=True, db_default='', default='', max_length=254),
        ),
    ]
