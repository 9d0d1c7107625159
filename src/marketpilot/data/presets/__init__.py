"""Built-in presets: one known export format → the canonical tables it fills."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import duckdb

from marketpilot.data.load import Plan
from marketpilot.data.presets.cdnow import Cdnow
from marketpilot.data.presets.online_retail import OnlineRetail
from marketpilot.data.readers import Source
from marketpilot.errors import UserError


class Preset(Protocol):
    name: str
    tables: tuple[str, ...]

    def open(self, con: duckdb.DuckDBPyConnection, path: Path) -> Source: ...

    def stage(self, con: duckdb.DuckDBPyConnection, source: Source) -> Plan: ...


PRESETS: dict[str, Preset] = {p.name: p for p in (OnlineRetail(), Cdnow())}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name.replace("_", "-").lower()]
    except KeyError:
        raise UserError(f"Unknown preset '{name}'.", hint=f"Presets: {', '.join(PRESETS)}") from None
