"""docs/data-model.md is generated from schema.py once and committed: it must stay in step with it."""

from __future__ import annotations

from pathlib import Path

from marketpilot.data.schema import TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def test_data_model_doc_lists_every_table_and_column() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in TABLES.values():
        assert f"## `{spec.name}`" in text
        for col in spec.columns:
            assert f"| `{col.name}` | {col.type} |" in text, f"{spec.name}.{col.name} missing from {DOC.name}"
