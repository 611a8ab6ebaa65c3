"""docs/api.md stays true to the API: its operations are the schema's, its errors the code's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from core import errors

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
OPERATION = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`\s?]*)")
ERROR_ROW = re.compile(r"^\| `([A-Z_]+)` \| (\d{3}) \|(.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def schema_operations(django_db_blocker) -> set[str]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths: dict[str, dict[str, Any]] = response.json()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method in item
        if method in HTTP_METHODS
    }


def documented_operations(text: str) -> set[str]:
    return {f"{method} {path}" for method, path in OPERATION.findall(text)}


def error_table(text: str) -> dict[str, tuple[int, str]]:
    """code -> (HTTP status, the rest of its row) from the doc's error table."""
    table: dict[str, tuple[int, str]] = {}
    for code, status, rest in ERROR_ROW.findall(text):
        assert code not in table, f"{code} has two rows in the error table"
        table[code] = (int(status), rest)
    return table


def api_error_classes() -> list[type[errors.ApiError]]:
    found: list[type[errors.ApiError]] = []
    pending = [errors.ApiError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_schema_operation_is_documented(schema_operations):
    missing = schema_operations - documented_operations(API_DOC.read_text())
    assert not missing, f"in /api/schema but not in docs/api.md: {sorted(missing)}"


def test_every_documented_operation_exists_in_the_schema(schema_operations):
    documented = documented_operations(API_DOC.read_text())
    assert len(documented) >= len(schema_operations)
    unknown = documented - schema_operations
    assert not unknown, f"in docs/api.md but not in /api/schema: {sorted(unknown)}"


def test_every_error_code_is_in_the_table_with_its_status():
    table = error_table(API_DOC.read_text())
    for cls in api_error_classes():
        assert cls.code in table, f"{cls.__name__}'s code {cls.code} is not in the error table"
        assert table[cls.code][0] == cls.status_code, f"{cls.code} is {cls.status_code}"
    for status, code in errors.STATUS_CODES.items():
        assert code in table, f"{code} ({status}) is not in the error table"
        documented, row = table[code]
        # One code may answer several statuses (406 is VALIDATION_ERROR): its row names each.
        assert documented == status or str(status) in row, f"{code} must say it answers {status}"


def test_the_error_table_holds_only_codes_the_api_answers():
    table = error_table(API_DOC.read_text())
    known = set(errors.STATUS_CODES.values()) | {cls.code for cls in api_error_classes()}
    assert table, "docs/api.md has no error table"
    assert set(table) <= known, f"not codes of core/errors.py: {sorted(set(table) - known)}"
    for code, (status, _) in table.items():
        assert errors.STATUS_CODES.get(status) == code, f"{status} is not {code} in the code"


def test_the_parsers_find_what_they_look_for():
    """The checks above would pass on nothing; these lines must parse as they read."""
    sample = (
        "- `GET /api/servers`, `DELETE /api/servers/{server_id}`: x\n"
        "| `NOT_FOUND` | 404 | gone |\n"
        "see `GET /api/logs?to=2026-11-24`\n"
    )
    assert documented_operations(sample) == {
        "GET /api/servers",
        "DELETE /api/servers/{server_id}",
        "GET /api/logs",
    }
    assert error_table(sample) == {"NOT_FOUND": (404, " gone |")}
