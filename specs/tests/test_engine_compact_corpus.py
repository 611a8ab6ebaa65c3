"""Compaction on real tool schemas: whatever the full schema accepts, the compacted one accepts.

The fixture holds tool schemas exactly as the engine builds them (``schema_budgets=None``)
from corpus documents whose shapes stress compaction: Stripe's deep ``anyOf`` bodies,
GitHub's rulesets (many shared defs), Kubernetes' recursive ``JSONSchemaProps``, Box's and
DigitalOcean's ``allOf`` objects, input and output schemas. Each is compacted under several
budgets, from the shipped defaults down to budgets that open nearly everything, and values
generated from the FULL schema (bench/fidelity.py's seeded generator, the one the fidelity
benchmark uses) that the full schema accepts must be accepted by the compacted schema too,
and by the schema as `tools/list` serves it (with `_select` and the advertised output branch).
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from specs.engine.compact import Compactor, SchemaBudgets, json_size
from tools.projection import advertised_input_schema, advertised_output_schema, select_argument

ROOT = Path(__file__).resolve().parents[2]
EXCERPTS = json.loads(
    (Path(__file__).parent / "fixtures" / "compact-corpus-excerpts.json").read_text()
)
BUDGETS = [
    SchemaBudgets(),  # as shipped
    SchemaBudgets(max_depth=2, max_input_bytes=3000, max_output_bytes=3000),
    SchemaBudgets(max_depth=1, max_input_bytes=1000, max_output_bytes=1000),
    SchemaBudgets(max_depth=0, max_input_bytes=256, max_output_bytes=256),
]
VALUES_PER_CASE = 40


@cache
def schema_values() -> Any:
    spec = importlib.util.spec_from_file_location("fidelity", ROOT / "bench" / "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fidelity", module)
    spec.loader.exec_module(module)
    return module.SchemaValues


def values_the_full_schema_accepts(schema: dict[str, Any], validator: Any, seed: str) -> list:
    generator = schema_values()
    rng = random.Random(seed)
    accepted: list[Any] = []
    for attempt in range(VALUES_PER_CASE * 3):
        # From only what is required to every optional property at every level.
        fill = min(1.0, attempt / VALUES_PER_CASE + 0.2)
        value = generator(schema, rng, fill=fill, budget=800).value(schema, 0)
        if validator.is_valid(value):
            accepted.append(value)
        if len(accepted) == VALUES_PER_CASE:
            break
    return accepted


def excerpt_id(excerpt: dict[str, Any]) -> str:
    return f"{excerpt['source'].split('/')[-1]}:{excerpt['tool']}:{excerpt['schema']}"


@pytest.mark.parametrize("budgets", BUDGETS, ids=lambda b: "-".join(map(str, b.as_dict().values())))
@pytest.mark.parametrize("excerpt", EXCERPTS, ids=excerpt_id)
def test_compaction_refuses_nothing_the_full_schema_accepts(excerpt, budgets):
    full = excerpt["jsonSchema"]
    compactor = Compactor(budgets)
    compacted: dict[str, Any] | None
    if excerpt["schema"] == "input":
        compacted = compactor.input_schema(full)
        limit = budgets.max_input_bytes
    else:
        compacted = compactor.output_schema(full)
        limit = budgets.max_output_bytes
        if compacted is None:  # dropped: nothing advertised, nothing to conform to
            assert json_size(full) > limit
            return
    Draft202012Validator.check_schema(compacted)
    if json_size(full) > limit:
        assert json_size(compacted) < json_size(full)  # the case really cuts something
    checker = Draft202012Validator.FORMAT_CHECKER
    original = Draft202012Validator(full, format_checker=checker)
    shortened = Draft202012Validator(compacted, format_checker=checker)
    # As tools/list serves it: the reserved `_select` argument, the advertised output branch.
    served_schema: dict[str, Any] | None
    if excerpt["schema"] == "input":
        served_schema = advertised_input_schema(compacted, select_argument(compacted))
    else:
        served_schema = advertised_output_schema(compacted)
    assert served_schema is not None
    Draft202012Validator.check_schema(served_schema)
    served = Draft202012Validator(served_schema, format_checker=checker)

    values = values_the_full_schema_accepts(full, original, excerpt_id(excerpt))

    assert len(values) >= VALUES_PER_CASE // 2, "too few values to judge"
    for value in values:
        errors = [error.message[:200] for error in shortened.iter_errors(value)]
        assert not errors, (value, errors)
        errors = [error.message[:200] for error in served.iter_errors(value)]
        assert not errors, (value, errors)
