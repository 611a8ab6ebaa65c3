# The admin's filters across all users (usage/admin.py): failed calls, by status class, and
# tool tests. On PostgreSQL the indexes are built CONCURRENTLY, so the request-log table keeps
# taking writes while they build (hence a non-atomic migration).

import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    models.Index(
        condition=models.Q(("succeeded", False)), fields=["-created_at"], name="log_failed_newest"
    ),
    models.Index(
        condition=models.Q(("source", "test")), fields=["-created_at"], name="log_test_newest"
    ),
    models.Index(
        django.db.models.expressions.CombinedExpression(
            models.F("status_code"), "/", models.Value(100)
        ),
        models.OrderBy(models.F("created_at"), descending=True),
        condition=models.Q(("succeeded", False)),
        name="log_failed_class_newest",
    ),
]


def create_indexes(apps, schema_editor):
    model = apps.get_model("usage", "RequestLog")
    concurrently = schema_editor.connection.vendor == "postgresql"
    for index in INDEXES:
        if concurrently:
            schema_editor.add_index(model, index, concurrently=True)
        else:
            schema_editor.add_index(model, index)


def drop_indexes(apps, schema_editor):
    model = apps.get_model("usage", "RequestLog")
    for index in INDEXES:
        schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("servers", "0001_initial"),
        ("tools", "0001_initial"),
        ("usage", "0003_log_fk_without_constraints_uuid7"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="usagedaily",
            options={
                "ordering": ["-day", "server_name"],
                "verbose_name": "daily usage",
                "verbose_name_plural": "daily usage",
            },
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="requestlog", index=index) for index in INDEXES
            ],
            database_operations=[migrations.RunPython(create_indexes, drop_indexes)],
        ),
    ]
