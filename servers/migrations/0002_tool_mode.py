from django.db import migrations, models

TOOL_MODES = [("all", "All tools"), ("dynamic", "Dynamic"), ("auto", "Auto")]


class Migration(migrations.Migration):
    """Existing servers keep listing every tool ("all"); servers created from now on are "auto"."""

    dependencies = [
        ("servers", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="server",
            name="tool_mode",
            field=models.CharField(choices=TOOL_MODES, default="all", max_length=16),
        ),
        migrations.AlterField(
            model_name="server",
            name="tool_mode",
            field=models.CharField(choices=TOOL_MODES, default="auto", max_length=16),
        ),
    ]
