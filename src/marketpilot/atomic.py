"""Files written whole or not at all: the bytes go to a hidden temporary file beside the target, which
replaces it only once complete; a failed write leaves neither a half-written target nor the temporary."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from marketpilot.errors import UserError


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """A temporary path to write `target`'s content to (missing folders are made first)."""
    target = Path(target)
    if target.is_dir():
        raise UserError(f"{target} is a folder; name a file to write.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(
            f"cannot write {target}: a file stands where a folder of its path should be."
        ) from None
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: Path | str, text: str) -> Path:
    """`text` as UTF-8 at `target`, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


__all__ = ["atomic_path", "write_text"]
