"""The migration that stores the OpenAPI 3.0 form of Swagger 2.0 specs fills existing rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from specs.engine.upgrade import swagger_to_openapi30
from specs.testing import SWAGGER_PETS


@pytest.mark.django_db(transaction=True)
def test_existing_swagger_specs_get_their_openapi_3_0_form():
    executor = MigrationExecutor(connection)
    executor.migrate([("specs", "0001_initial")])
    old = executor.loader.project_state([("specs", "0001_initial")]).apps
    user = old.get_model("accounts", "User").objects.create(email="m@example.com")
    common = {"user": user, "original_text": "{}", "sha256": "0" * 64}
    swagger = old.get_model("specs", "Spec").objects.create(
        name="s", format="swagger-2.0", document=SWAGGER_PETS, **common
    )
    openapi = old.get_model("specs", "Spec").objects.create(
        name="o", format="openapi-3.0", document={"openapi": "3.0.3"}, **common
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from specs.models import Spec

    assert Spec.objects.get(pk=swagger.pk).openapi30_document == swagger_to_openapi30(SWAGGER_PETS)
    assert Spec.objects.get(pk=openapi.pk).openapi30_document is None
