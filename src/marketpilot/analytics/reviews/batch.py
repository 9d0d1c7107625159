"""Score a file of reviews (CSV in UTF-8 or GBK, Parquet): one label and probability per row.

The written file carries the review text PII-masked (phones, emails, ID numbers, addresses): scored
files get shared, and personal data must not leave in any output.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews.sentiment import load_model, no_opinion, other_language
from marketpilot.atomic import atomic_path
from marketpilot.config import Settings
from marketpilot.data.readers import read_frame
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.pii import mask_pii

OUTPUT_COLUMNS = ("label", "probability")
_GOLD = {
    **{"1": 1, "0": 0, "pos": 1, "neg": 0, "positive": 1, "negative": 0, "正面": 1, "负面": 0},
    **{"好评": 1, "差评": 0, "积极": 1, "消极": 0},  # as marketplaces and annotators write them
    **{"true": 1, "false": 0},  # a spreadsheet's boolean column
}
NEUTRAL = -1  # a gold label with no side: 中评, neutral, 3 stars; no part of the accuracy
_NEUTRAL = {"中评", "中性", "neutral", "neu", "mixed"}
MISSING = -2  # a blank gold cell
_STARS = re.compile(r"([1-5])\s*(?:星|颗星|stars?)?")
_STAR_GOLD = {"1": 0, "2": 0, "3": NEUTRAL, "4": 1, "5": 1}


def gold_labels(values: pd.Series, source: str, column: str) -> np.ndarray:
    """1/0 from 1/0, pos/neg, positive/negative, 正面/负面, 好评/差评, 积极/消极, true/false (any case),
    or from 1–5 stars (4–5 positive, 1–2 negative); `NEUTRAL` for 中评, neutral and 3 stars, `MISSING`
    for a blank cell. A column of 1s and 0s only is read as 1/0, one with 2–5 in it as stars. Names
    the bad rows."""
    text = values.astype("string").fillna("").str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    stars = text.str.fullmatch(_STARS.pattern)
    # "1" means positive in a 1/0 column and one star in a 1–5 one; a 2–5 (or "5星") settles it.
    as_stars = bool((stars & ~text.isin(["0", "1"])).any()) and not text.eq("0").any()
    if as_stars:
        grade = text.where(~stars).fillna(text.str.extract(_STARS.pattern, expand=False))
        mapped = grade.map(lambda g: _STAR_GOLD.get(g, _GOLD.get(g)))
    else:
        mapped = text.map(_GOLD)
    mapped = mapped.where(~text.isin(_NEUTRAL), NEUTRAL).where(text != "", MISSING)
    bad = np.flatnonzero(mapped.isna().to_numpy())
    if bad.size:
        problems = [
            f"row {i + 2}, column {column!r}: {values.iloc[i]!r} is not a sentiment label" for i in bad[:20]
        ]
        raise ValidationFailed(
            problems,
            source=source,
            total=int(bad.size),
            hint="use 1/0, pos/neg, positive/negative, 正面/负面, 好评/中评/差评, true/false or 1–5 stars",
        )
    return mapped.to_numpy(dtype=np.int64)


def _accuracy(predicted_pos: np.ndarray, gold: np.ndarray, silent: np.ndarray) -> dict[str, object]:
    """accuracy over the rows with a pos/neg gold label and words to score; the rows left out are
    counted, and a gold column of one class is said to be one (accuracy is then that class's recall)."""
    scored = (gold >= 0) & ~silent
    out: dict[str, object] = {}
    for key, count in (("gold_neutral", gold == NEUTRAL), ("gold_blank", gold == MISSING)):
        if count.any():
            out[key] = int(count.sum())
    if not scored.any():
        out["accuracy_note"] = "no row has both review text and a pos/neg gold label: no accuracy"
        return out
    out["accuracy"] = round(float(np.mean(predicted_pos[scored] == (gold[scored] == 1))), 4)
    if not scored.all():
        out["accuracy_rows"] = int(scored.sum())
    if len(classes := np.unique(gold[scored])) == 1:
        side = "pos" if classes[0] == 1 else "neg"
        out["accuracy_note"] = (
            f"every gold label is {side}: accuracy is the recall of {side} alone; how the other "
            "class is caught cannot be measured"
        )
    return out


def gold_renames(source: str, columns: list[str], text_col: str, label_col: str | None) -> dict[str, str]:
    """The input's columns checked for scoring, the one rule of `reviews sentiment` and `scale
    sentiment`: the text and gold columns must exist; a gold column named like a score (`label`, as
    the public corpora call it) is kept beside the scores as `gold_label` (the rename returned); any
    other column the scores would overwrite is refused."""
    for col in (text_col, label_col):
        if col is not None and col not in columns:
            raise UserError(f"{source}: no column {col!r}", hint=f"columns are: {', '.join(columns)}")
    renames: dict[str, str] = {}
    if label_col in OUTPUT_COLUMNS and f"gold_{label_col}" not in columns:
        renames[label_col] = f"gold_{label_col}"
    taken = [c for c in OUTPUT_COLUMNS if c in columns and c not in renames]
    if taken:
        raise UserError(
            f"{source}: column(s) {', '.join(map(repr, taken))} would be overwritten by the scores",
            hint="rename them in the file; gold labels can live in any column named by --label-col",
        )
    return renames


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
    # a blank line is a blank review in a one-column file: kept (and counted as no_text) so that the
    # scored rows line up with the input's
    df = read_frame(path, keep_blank=True)
    renames = gold_renames(str(path), list(map(str, df.columns)), text_col, label_col)
    if df.empty:
        raise UserError(
            f"{path}: no rows under the header, nothing to score", hint="export the reviews again"
        )
    if renames:
        df = df.rename(columns=renames)
        label_col = next(iter(renames.values()))
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
    # Rows without words to score get P = 0.5 (labelled pos, as marketplaces count them), so they are
    # counted apart: blank, emoji, a rating, a link, a placeholder (此用户未填写评价内容) …
    no_text = no_opinion(texts)
    if no_text.any():
        summary["no_text"] = int(no_text.sum())
    # … and reviews in a language neither model reads (Japanese, Korean).
    foreign = other_language(texts) & ~no_text
    if foreign.any():
        summary["other_lang"] = int(foreign.sum())
    if gold is not None:
        summary.update(_accuracy((df.label == "pos").to_numpy(), gold, no_text | foreign))
    if out is not None:
        try:
            with atomic_path(out) as tmp:
                if out.suffix.lower() == ".parquet":
                    df.to_parquet(tmp, index=False)
                else:
                    df.to_csv(tmp, index=False, encoding="utf-8")
        except OSError as exc:  # read-only folder, full disk, a path the system refuses
            raise UserError(
                f"--out {out}: cannot write there ({exc.strerror or exc}); nothing was written",
                hint="choose a writable folder",
            ) from None
    return df, summary
