"""Files a response names, relative to the MarketPilot home: a client on another machine learns where
in the home the result lies (`intel/segments.parquet`), not how the server's disks are laid out. Error
messages get the same treatment as text (`home_relative_text`)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)


def home_relative(model: ModelT, home: Path) -> ModelT:
    """A copy of `model` whose paths (in fields, nested models, lists and dicts; Path or text) are
    relative to `home`; a Path outside it keeps only its name."""
    return _model(model, _homes(home))


def _homes(home: Path) -> tuple[Path, ...]:
    return tuple(dict.fromkeys((home.absolute(), home.resolve())))  # as written, and through links


# An absolute path in prose: it starts a word (not `CNY/month`, `https://…`, `<home>/…`) and runs to
# whitespace, a quote, a bracket or a separator, ASCII or full-width (`文件 /tmp/a.csv。`).
_ABSOLUTE = re.compile(r"(?<![\w.:/<>-])/[^\s'\"`()\[\]{}<>,;，。；：（）、]+")


def home_relative_text(text: str, home: Path) -> str:
    """`text` (an error's message or hint) without the server's paths: the home as `<home>`
    (`<home>/intel/segments.parquet`), any other path on the server's disks (a temporary upload,
    the model cache) as its file name. A path is the server's when its top folder exists there
    (`/tmp/…`, `/home/…`), so a route a message names (`/v1/segments`) is kept."""
    for where in sorted(_homes(home), key=lambda p: len(str(p)), reverse=True):  # /private/tmp first
        # the home itself, not a sibling (`home-old`, `home.bak`); a full stop may end the sentence
        text = re.sub(rf"(?<![\w.-]){re.escape(str(where))}(?![\w-]|\.\w)", "<home>", text)
    return _ABSOLUTE.sub(_file_name, text)


def _file_name(match: re.Match[str]) -> str:
    path = match[0].rstrip(".:")  # the sentence's punctuation, not the path's
    parts = PurePosixPath(path).parts
    if len(parts) < 2 or not Path("/", parts[1]).is_dir():
        return match[0]
    return PurePosixPath(path).name + match[0][len(path) :]


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
