"""How good is a variant? A quality score from guardrails, length fit, readability and diversity, and,
when past campaign outcomes exist, a predicted CTR from a model trained on them.

    scores = quality_scores(variant_texts, brief)                  # one row per variant
    model = CTRModel().fit(history)                                # columns text, sends, clicks[, channel]
    model.predict_ctr(variant_texts, channels)
    model = ctr_model_from_history(settings)                       # from the campaign state, or None
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from marketpilot.config import Settings
from marketpilot.content.briefs import Brief
from marketpilot.content.channels import CHANNEL_SPECS, channel_specs
from marketpilot.content.guardrails import check_copy
from marketpilot.content.guardrails.length import display_width, sms_billing, sms_message
from marketpilot.errors import NotFittedError, ValidationFailed

Embedder = Callable[[list[str]], np.ndarray]
WEIGHTS = {"guardrails": 0.4, "length_fit": 0.2, "readability": 0.2, "diversity": 0.2}
_SENTENCE_END = re.compile(r"[。！？!?；;\n]+|(?<=[.])\s+")
# Mobile marketing reads best in short clauses: ~20 Chinese characters or ~15 English words a sentence.
_TARGET_SENTENCE = {"zh": 20.0, "en": 15.0}


def _default_embedder(texts: list[str]) -> np.ndarray:
    from marketpilot.embed import embed

    return embed(texts, kind="passage")


def length_fit(text: str, brief: Brief) -> float:
    """1.0 when the copy uses 40–100 % of what the channel allows; less when much shorter or over."""
    spec = CHANNEL_SPECS[brief.channel]
    if spec.name == "sms":
        bill = sms_billing(sms_message(text, shop_name=brief.brand.shop_name, language=brief.language))
        single = 160 if bill.encoding == "GSM-7" else 70
        # the copy's share of what one message leaves after the signature and opt-out text
        overhead = bill.chars - len(text.strip())
        used = len(text.strip()) / max(1, single - overhead) if bill.segments == 1 else bill.chars / single
        return (
            1.0
            if 0.4 <= used <= 1.0
            else (used / 0.4 if used < 0.4 else max(0.0, 1.0 - 0.5 * (bill.segments - 1)))
        )
    limit = spec.title_max_width or spec.max_width or spec.max_chars or 200
    used = (display_width(text) if spec.max_width else len(text)) / limit
    return 1.0 if 0.4 <= used <= 1.0 else (used / 0.4 if used < 0.4 else max(0.0, 2.0 - used))


def readability(text: str, language: str) -> float:
    """1.0 for short sentences; falls as the average sentence grows past the target length."""
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    if not sentences:
        return 0.0
    # Chinese is measured in characters, English in words
    lengths = [len(s.strip()) if language == "zh" else len(s.split()) for s in sentences]
    target = _TARGET_SENTENCE[language]
    return float(np.clip(1.0 - (np.mean(lengths) - target) / (2 * target), 0.0, 1.0))


def diversity(vectors: np.ndarray) -> np.ndarray:
    """1 − the highest cosine similarity to any other variant of the set (1.0 for a lone variant);
    `vectors` are the variants' L2-normalised embeddings."""
    if len(vectors) < 2:
        return np.ones(len(vectors))
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    return np.clip(1.0 - sims.max(axis=1), 0.0, 1.0)


def quality_scores(
    texts: Sequence[str],
    brief: Brief,
    *,
    embedder: Embedder | None = None,
    vectors: np.ndarray | None = None,
    passed: Sequence[bool] | None = None,
) -> pd.DataFrame:
    """One row per text: each component in [0, 1] and the weighted `quality`. Pass `vectors` when the
    embeddings are already at hand (generation computes them once for the whole batch), and `passed`
    when the guardrails already ran."""
    if vectors is None:
        vectors = np.asarray((embedder or _default_embedder)(list(texts)), dtype=np.float32)
    if passed is None:
        specs = channel_specs()  # marketpilot.toml read once for the batch, not once per text
        passed = [check_copy(t, brief, specs=specs).ok for t in texts]
    frame = pd.DataFrame(
        {
            "text": list(texts),
            "guardrails": [float(ok) for ok in passed],
            "length_fit": [length_fit(t, brief) for t in texts],
            "readability": [readability(t, brief.language) for t in texts],
            "diversity": diversity(vectors),
        }
    )
    frame["quality"] = sum(frame[name] * weight for name, weight in WEIGHTS.items())
    return frame


def text_features(texts: Sequence[str], embedder: Embedder) -> np.ndarray:
    """Embedding plus surface features marketers know matter: length, personal slot, number, urgency."""
    emb = np.asarray(embedder(list(texts)), dtype=np.float32)
    surface = np.array(
        [
            [
                min(len(t), 200) / 100,
                float("{name}" in t),
                float(bool(re.search(r"\d", t))),
                float(bool(re.search(r"[!！]", t))),
                float(bool(re.search(r"限时|截止|ends|today", t, re.IGNORECASE))),
            ]
            for t in texts
        ],
        dtype=np.float32,
    )
    return np.hstack([emb, surface])


class CTRModel:
    """Predicted click-through rate from past outcomes (logistic regression on text features and channel).

    `fit(history)` takes one row per sent variant: `text`, `sends`, `clicks` and optionally `channel`
    (a content channel: sms, push, email_body …). Each row counts as `clicks` positive and
    `sends − clicks` negative examples (sample weights), so a variant sent to 100,000 customers weighs
    more than one sent to 100. A channel not seen in fitting predicts from the text alone.
    """

    def __init__(self, C: float = 1.0, embedder: Embedder | None = None) -> None:
        self.C = C
        self.embedder = embedder

    def _embedder(self) -> Embedder:
        return self.embedder or _default_embedder

    def _features(self, texts: Sequence[str], channels: Sequence[str] | None) -> np.ndarray:
        x = text_features(texts, self._embedder())
        if not self.channels_:
            return x
        names = list(channels) if channels is not None else [""] * len(texts)
        onehot = np.array([[float(c == known) for known in self.channels_] for c in names], dtype=np.float32)
        return np.hstack([x, onehot])

    def fit(self, history: pd.DataFrame) -> CTRModel:
        missing = [c for c in ("text", "sends", "clicks") if c not in history.columns]
        if missing:
            raise ValidationFailed([f"missing column {c!r}" for c in missing], source="CTR history")
        bad = history[
            (history["sends"] <= 0) | (history["clicks"] < 0) | (history["clicks"] > history["sends"])
        ]
        if not bad.empty:
            rows = ", ".join(str(i) for i in bad.index[:5])
            raise ValidationFailed(
                [f"rows {rows}: need 0 ≤ clicks ≤ sends and sends > 0"], source="CTR history"
            )
        if history["clicks"].sum() == 0 or (history["sends"] - history["clicks"]).sum() == 0:
            raise ValidationFailed(["history needs both clicks and non-clicks"], source="CTR history")
        has_channel = "channel" in history.columns
        self.channels_ = sorted(history["channel"].astype(str).unique()) if has_channel else []
        x = self._features(
            history["text"].tolist(), history["channel"].astype(str).tolist() if has_channel else None
        )
        clicks = history["clicks"].to_numpy(float)
        misses = (history["sends"] - history["clicks"]).to_numpy(float)
        features = np.vstack([x, x])
        labels = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
        weights = np.concatenate([clicks, misses])
        keep = weights > 0
        # weights are normalised so that C means the same for 1k and 1M sends
        model = LogisticRegression(C=self.C, max_iter=2000)
        model.fit(
            features[keep], labels[keep], sample_weight=weights[keep] * keep.sum() / weights[keep].sum()
        )
        self.model_ = model
        self.base_ctr_ = float(clicks.sum() / history["sends"].sum())
        self.sends_ = int(history["sends"].sum())
        return self

    def predict_ctr(self, texts: Sequence[str], channels: Sequence[str] | None = None) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("CTRModel.predict_ctr called before fit")
        return self.model_.predict_proba(self._features(texts, channels))[:, 1]


def ctr_history(settings: Settings) -> pd.DataFrame:
    """Past outcomes from the campaign state: one row per sent variant (campaign, version, channel,
    variant) with `text` (the variant as generated, slots unfilled), `channel` (the content channel),
    `sends` and `clicks` (messages with at least one click event). Customers who opted out of
    personalisation received the channel's generic variant, so their messages count for that one.
    Empty when there is no state database or nothing was sent."""
    from sqlalchemy import and_, case, exists, func, or_, select

    from marketpilot.campaigns.copy import CONTENT_CHANNEL
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.campaigns.state.models import Assignment, MessageRecord, TrackingEvent, VariantRecord

    columns = ["text", "channel", "sends", "clicks"]
    # Reading must not create a state database where none was ever written.
    if settings.database_url is None and not (settings.home_dir / "state.sqlite").exists():
        return pd.DataFrame(columns=columns)
    m, a, e, v = MessageRecord, Assignment, TrackingEvent, VariantRecord
    clicked = exists().where(
        e.kind == "click",
        or_(
            e.idempotency_key == m.idempotency_key,
            and_(e.idempotency_key.is_(None), e.campaign_id == m.campaign_id, e.customer_id == m.customer_id),
        ),
    )
    sends = (
        select(
            m.campaign_id,
            m.version,
            m.channel,
            m.variant_key,
            func.coalesce(a.personalised, True).label("personalised"),
            func.count().label("sends"),
            func.sum(case((clicked, 1), else_=0)).label("clicks"),
        )
        .outerjoin(
            a, and_(a.campaign_id == m.campaign_id, a.version == m.version, a.customer_id == m.customer_id)
        )
        .where(m.status == "sent")
        .group_by(m.campaign_id, m.version, m.channel, m.variant_key, "personalised")
    )
    texts = select(v.campaign_id, v.version, v.channel, v.variant_key, v.text).where(v.status == "accepted")
    with open_state(settings).connect() as con:
        sent = pd.DataFrame(con.execute(sends).all(), columns=[c.name for c in sends.selected_columns])
        copy = pd.DataFrame(con.execute(texts).all(), columns=[c.name for c in texts.selected_columns])
    if sent.empty:
        return pd.DataFrame(columns=columns)
    keys = ["campaign_id", "version", "channel"]
    generic = copy[copy["variant_key"] == "generic"][[*keys]].assign(has_generic=True)
    sent = sent.merge(generic.drop_duplicates(), on=keys, how="left")
    opted_out = ~sent["personalised"].astype(bool) & sent["has_generic"].fillna(False).astype(bool)
    sent.loc[opted_out, "variant_key"] = "generic"
    sent = sent.groupby([*keys, "variant_key"], as_index=False)[["sends", "clicks"]].sum()
    # the latest recorded text of each variant key (re-recorded versions repeat it)
    copy = copy.drop_duplicates([*keys, "variant_key"], keep="last")
    history = sent.merge(copy, on=[*keys, "variant_key"], how="inner")
    history["channel"] = history["channel"].map(lambda c: CONTENT_CHANNEL.get(c, c))
    history["clicks"] = history["clicks"].fillna(0).astype(int)
    return history[columns].reset_index(drop=True)


def ctr_model_from_history(
    settings: Settings, *, embedder: Embedder | None = None, C: float = 1.0
) -> CTRModel | None:
    """A CTR model trained on the campaign state's past sends and clicks; None when there is no history
    with both clicks and non-clicks to learn from."""
    history = ctr_history(settings)
    if history.empty or history["clicks"].sum() == 0 or (history["sends"] == history["clicks"]).all():
        return None
    return CTRModel(C=C, embedder=embedder).fit(history)
