"""The CI slice of the round-trip fidelity benchmark (bench/fidelity.py).

Every operation of the committed example specs and fixtures (OpenAPI 3.0, 3.1 and Swagger
2.0; XML bodies included), several generated argument sets each: every request the engine
builds must be one openapi-core accepts against the original operation, apart from the
set-aside cases, each of which carries its reason. The validator runs in
bench/.cache/fidelity-venv (created on first use from requirements-fidelity.txt).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_fidelity():
    spec = importlib.util.spec_from_file_location("fidelity", ROOT / "bench" / "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fidelity"] = module
    spec.loader.exec_module(module)
    return module


def test_every_request_built_from_the_committed_specs_is_valid_against_its_spec():
    fidelity = load_fidelity()

    summary = fidelity.run(fidelity.SLICE, max_operations=40, cases=3, seed=fidelity.SEED)

    assert summary["failures"] == []
    assert summary["buildErrors"] == 0
    assert summary["notBuilt"] == []
    assert summary["built"] >= 250
    assert summary["validShare"] == 1.0
    assert set(summary["perFormat"]) == {"openapi-3.0", "openapi-3.1", "swagger-2.0"}
    assert all(case["reasons"] for case in summary["setAsideCases"])
    assert summary["valid"] + summary["setAside"] == summary["built"]
    # XML bodies written from their schemas' xml objects, read back by those rules and
    # checked against the schema (specs/tests/fixtures/*xml*.yaml), Swagger 2.0 included.
    xml = summary["perCategory"]["xml body"]
    assert xml["built"] >= 12
    assert xml["valid"] == xml["built"]
    swagger = summary["perFormat"]["swagger-2.0"]
    assert swagger["built"] >= 20
    assert swagger["valid"] == swagger["built"]
