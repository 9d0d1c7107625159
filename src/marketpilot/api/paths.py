"""Files a response names, relative to the MarketPilot home: a client on another machine learns where
in the home the result lies (`intel/segments.parquet`), not how the server's disks are laid out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)


def home_relative(model: ModelT, home: Path) -> ModelT:
    """A copy of `model` whose paths (in fields, nested models, lists and dicts; Path or text) are
    relative to `home`; a Path outside it keeps only its name."""
    homes = tuple(dict.fromkeys((home.absolute(), home.resolve())))  # as written, and through links
    return _model(model, homes)


def _model(model: ModelT, homes: tuple[Path, ...]) -> ModelT:
    return model.model_copy(update={name: _relative(value, homes) for name, value in model})


def _relative(value: Any, homes: tuple[Path, ...]) -> Any:
    if isinstance(value, Path):
        for home in homes:
            if value.absolute().is_relative_to(home):
                return value.absolute().relative_to(home)
        return Path(value.name)
    if isinstance(value, str):  # a path kept as text
        for home in homes:
            if value.startswith(f"{home}/"):
                return value.removeprefix(f"{home}/")
        return value
    if isinstance(value, BaseModel):
        return _model(value, homes)
    if isinstance(value, dict):
        return {k: _relative(v, homes) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, homes) for v in value]
    return value
