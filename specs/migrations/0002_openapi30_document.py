"""The OpenAPI 3.0 form of every Swagger 2.0 document, stored beside the original."""

from django.db import migrations, models


def fill(apps, schema_editor):
    # The engine is pure (no models); the conversion of a stored document is the same one the
    # import service makes for new revisions.
    from specs.engine.upgrade import swagger_to_openapi30

    Spec = apps.get_model("specs", "Spec")
    swagger = Spec.objects.filter(format="swagger-2.0").only("id", "document")
    for spec in swagger.iterator(chunk_size=50):
        spec.openapi30_document = swagger_to_openapi30(spec.document)
        spec.save(update_fields=["openapi30_document"])


class Migration(migrations.Migration):
    dependencies = [
        ("specs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="spec",
            name="openapi30_document",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
