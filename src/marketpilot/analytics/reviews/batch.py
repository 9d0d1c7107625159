"""Score a file of reviews (CSV in UTF-8 or GBK, Parquet): one label and probability per row.

The written file carries the review text PII-masked (phones, emails, ID numbers, addresses): scored
files get shared, and personal data must not leave in any output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews.sentiment import load_model, no_opinion
from marketpilot.atomic import atomic_path
from marketpilot.config import Settings
from marketpilot.data.readers import read_frame
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.pii import mask_pii

OUTPUT_COLUMNS = ("label", "probability")
_GOLD = {
    **{"1": 1, "0": 0, "pos": 1, "neg": 0, "positive": 1, "negative": 0, "正面": 1, "负面": 0},
    **{"好评": 1, "差评": 0, "积极": 1, "消极": 0},  # as marketplaces and annotators write them
}


def gold_labels(values: pd.Series, source: str, column: str) -> np.ndarray:
    """1/0 from 1/0, pos/neg, positive/negative, 正面/负面, 好评/差评, 积极/消极 (case-insensitive);
    names the bad rows."""
    text = values.astype(str).str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    mapped = text.map(_GOLD)
    bad = np.flatnonzero(mapped.isna().to_numpy())
    if bad.size:
        problems = [
            f"row {i + 2}, column {column!r}: {values.iloc[i]!r} is not a sentiment label" for i in bad
        ]
        raise ValidationFailed(
            problems, source=source, hint="use 1/0, pos/neg, positive/negative, 正面/负面 or 好评/差评"
        )
    return mapped.to_numpy(dtype=np.int64)


def score_file(
    path: Path,
    text_col: str,
    *,
    lang: str = "auto",
    label_col: str | None = None,
    out: Path | None = None,
    mode: str = "fast",
    adapt: bool = True,
    settings: Settings | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """(rows with label/probability added and the text PII-masked, summary {"rows","pos","neg"
    [, "accuracy"]}); writes `out`. `settings` picks the LLM for mode "llm"; `adapt` lets every
    mode learn from the file's own confident rows (the fast mode Chinese rows only;
    `SentimentModel.positive_proba`)."""
    if mode not in ("fast", "accurate", "llm"):
        raise UserError(f"--mode must be fast, accurate or llm, got {mode!r}")
    if lang not in ("auto", "zh", "en"):
        raise UserError(f"--lang must be auto, zh or en, got {lang!r}")
    if out is not None and out.resolve() == Path(path).resolve():
        raise UserError(
            f"--out {out} is the input file: its text would come back PII-masked, the original lost.",
            hint="write the scores to another file",
        )
    df = read_frame(path)
    for col in (text_col, label_col):
        if col is not None and col not in df.columns:
            raise UserError(
                f"{path}: no column {col!r}", hint=f"columns are: {', '.join(map(str, df.columns))}"
            )
    if label_col in OUTPUT_COLUMNS and f"gold_{label_col}" not in df.columns:
        # A gold column called `label` (as the public corpora call it) is kept beside the scores.
        df = df.rename(columns={label_col: f"gold_{label_col}"})
        label_col = f"gold_{label_col}"
    taken = [c for c in OUTPUT_COLUMNS if c in df.columns]
    if taken:
        raise UserError(
            f"{path}: column(s) {', '.join(map(repr, taken))} would be overwritten by the scores",
            hint="rename them in the file; gold labels can live in any column named by --label-col",
        )
    gold = gold_labels(df[label_col], str(path), label_col) if label_col else None
    texts = df[text_col].fillna("").astype(str).tolist()
    scored = load_model().predict(texts, lang=lang, mode=mode, settings=settings, adapt=adapt)
    df = df.assign(
        **{text_col: [mask_pii(t) for t in texts]},
        label=scored.label.to_numpy(),
        probability=scored.probability.to_numpy(),
    )
    summary: dict[str, object] = {
        "rows": len(df),
        "pos": int((df.label == "pos").sum()),
        "neg": int((df.label == "neg").sum()),
    }
    if (silent := int(no_opinion(texts).sum())) > 0:  # blank or a marketplace placeholder: P = 0.5
        summary["no_text"] = silent
    if gold is not None:
        summary["accuracy"] = round(float(np.mean((df.label == "pos").to_numpy() == (gold == 1))), 4)
    if out is not None:
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".parquet":
                df.to_parquet(tmp, index=False)
            else:
                df.to_csv(tmp, index=False, encoding="utf-8")
    return df, summary
