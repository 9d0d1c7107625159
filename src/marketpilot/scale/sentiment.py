"""Review sentiment as a Ray Data job: read a Parquet or CSV file (UTF-8 or GBK) in blocks, score
each block on whichever worker holds it, write a directory of Parquet files.

Every review is scored on its own, as `reviews sentiment --no-adapt` scores it (batch adaptation
learns from the whole file, which no single worker sees): the labels equal the single-process ones.
"""

from __future__ import annotations

import math
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from marketpilot.analytics.reviews.batch import gold_renames
from marketpilot.config import Settings
from marketpilot.errors import UserError
from marketpilot.scale.runtime import ray_session


class ScaleSummary(BaseModel):
    rows: int
    pos: int
    neg: int
    out: str
    files: int
    # as `reviews sentiment` counts them, and only when there are any (`model_dump(exclude_none=True)`)
    no_text: int | None = None
    other_lang: int | None = None


class _Scorer:
    """One per Ray actor: the shipped model is loaded once and reused for every block it scores."""

    def __init__(
        self, text_col: str, lang: str, mode: str, settings: Settings | None, renames: dict[str, str]
    ) -> None:
        from marketpilot.analytics.reviews.sentiment import load_model

        self.model = load_model()
        self.text_col, self.lang, self.mode, self.settings = text_col, lang, mode, settings
        self.renames = renames

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from marketpilot.privacy.pii import mask_pii

        texts = batch[self.text_col].fillna("").astype(str).tolist()
        scored = self.model.predict(
            texts, lang=self.lang, mode=self.mode, settings=self.settings, adapt=False
        )
        return batch.rename(columns=self.renames).assign(
            **{self.text_col: [mask_pii(t) for t in texts]},
            label=scored.label.to_numpy(),
            probability=scored.probability.to_numpy(),
        )


def _set_aside(batch: pd.DataFrame, text_col: str) -> pd.DataFrame:
    """The rows the model gives P = 0.5 without reading them, flagged as `batch.score_file` counts
    them: no words of the buyer's own (`no_text`), else kana or hangul (`other_lang`)."""
    from marketpilot.analytics.reviews.sentiment import no_opinion, other_language

    texts = batch[text_col].fillna("").astype(str).tolist()
    no_text = no_opinion(texts)
    foreign = other_language(texts) & ~no_text
    return pd.DataFrame({"no_text": no_text.astype("int64"), "other_lang": foreign.astype("int64")})


def _read(ray: Any, path: Path) -> Any:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet" or path.is_dir():
        return ray.data.read_parquet(str(path))
    import pyarrow.csv as pcsv

    from marketpilot.data.readers import detect_encoding

    encoding = "utf8" if detect_encoding(path).startswith("utf-8") else "gb18030"
    read = pcsv.ReadOptions(encoding=encoding)
    dataset = ray.data.read_csv(str(path), read_options=read)
    if len(dataset.columns()) != 1:
        return dataset
    # In a one-column file a blank line is a blank review: kept, as `reviews sentiment` keeps it, so
    # the scored rows line up with the input's. The file's own trailing newlines are no reviews.
    keep = pcsv.ParseOptions(ignore_empty_lines=False)
    dataset = ray.data.read_csv(str(path), read_options=read, parse_options=keep)
    trailing = _trailing_blank_lines(path)
    return dataset.limit(dataset.count() - trailing) if trailing else dataset


def _trailing_blank_lines(path: Path) -> int:
    """Blank lines after the last record: the line breaks ending the file, less the one ending that
    record (pyarrow yields a row for each of the rest). Line breaks are the same bytes in GBK."""
    with path.open("rb") as fh:
        fh.seek(max(0, fh.seek(0, 2) - 65536))
        tail = fh.read()
    return max(0, tail[len(tail.rstrip(b"\r\n")) :].count(b"\n") - 1)


def score_file_ray(
    path: Path,
    text_col: str,
    out: Path,
    *,
    lang: str = "auto",
    label_col: str | None = None,
    mode: str = "fast",
    settings: Settings | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    batch_size: int = 20_000,
) -> ScaleSummary:
    """Score `path` into the directory `out` (Parquet parts: the input's columns, the text
    PII-masked, label, probability). A gold column `label_col` is kept as `reviews sentiment` keeps
    it (as `gold_label` when it is called `label`); no accuracy is computed here. Written to a
    temporary directory beside `out` and renamed, so a failed job leaves nothing; an existing `out`
    is refused."""
    if out.exists():
        raise UserError(f"{out} already exists", hint="give a new directory for the scored Parquet files")
    if mode == "llm" and settings is None:
        raise UserError("mode llm needs settings (the LLM to ask)")
    with ray_session(address, num_cpus) as ray:
        dataset = _read(ray, path)
        renames = gold_renames(str(path), dataset.columns(), text_col, label_col)
        cpus = max(1, int(ray.available_resources().get("CPU", 1)))
        # a file read as one block would keep every worker but one idle: split it, at least one block
        # per CPU and none much larger than a batch
        blocks = max(2 * cpus, math.ceil(dataset.count() / batch_size))
        scored = dataset.repartition(blocks).map_batches(
            _Scorer,
            fn_constructor_args=(text_col, lang, mode, settings, renames),
            batch_format="pandas",
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=cpus),
            # On one CPU (`--num-cpus 1`, a one-core machine) a scorer holding it left the read and
            # write tasks none, and the job waited forever; there the one scorer reserves none.
            num_cpus=1 if cpus > 1 else 0,
        )
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            scored.write_parquet(str(tmp))
            labels = ray.data.read_parquet(str(tmp)).select_columns(["label"]).to_pandas()["label"]
            # Counted from the input's text in a pass of their own: the written text is PII-masked
            # (which could change what counts as words), and counts sent from the scorers would be
            # doubled for a block Ray retries.
            flags = dataset.select_columns([text_col]).map_batches(
                _set_aside, fn_args=(text_col,), batch_format="pandas", batch_size=batch_size
            )
            sums = flags.sum(["no_text", "other_lang"]) or {}  # one pass; None for no rows
            counts = {key: int(sums.get(f"sum({key})") or 0) for key in ("no_text", "other_lang")}
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    tmp.rename(out)
    pos = int((labels == "pos").sum())
    neg = len(labels) - pos
    return ScaleSummary(
        rows=pos + neg,
        pos=pos,
        neg=neg,
        out=str(out),
        files=len(list(out.glob("*.parquet"))),
        **{key: n for key, n in counts.items() if n},
    )
