"""Segmentation end to end: features → clustering → per-segment stats → personas → files + report."""

from __future__ import annotations

import datetime as dt
import json
from numbers import Integral
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel

from marketpilot.analytics.clv.scoring import score_customers
from marketpilot.analytics.clv.service import fit_models, fit_warnings
from marketpilot.analytics.clv.transactions import register_store_transactions, summarise
from marketpilot.analytics.customer_features import feature_warnings
from marketpilot.analytics.outputs import write_table
from marketpilot.analytics.purchases import (
    register_purchases,
    registered_money_currency,
    registered_purchases,
)
from marketpilot.analytics.rfm import compute_rfm
from marketpilot.analytics.segments.clustering import SegmentModel
from marketpilot.analytics.segments.features import behaviour_matrix, segmentation_frame, text_matrix
from marketpilot.analytics.segments.k_choice import KChoice
from marketpilot.analytics.segments.personas import (
    Language,
    Persona,
    ShopAverages,
    distinct_names,
    small_segment_persona,
    template_persona,
    write_persona,
)
from marketpilot.analytics.segments.size_check import SmallSegments, small_segments
from marketpilot.analytics.segments.stats import SegmentStats, relabel_by_revenue, segment_stats
from marketpilot.atomic import write_text
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import UserError
from marketpilot.llm import LLMClient


class SegmentProfile(BaseModel):
    stats: SegmentStats
    persona: Persona


class SegmentationResult(BaseModel):
    as_of: dt.date
    customers: int
    k: int
    method: str
    silhouette: dict[int, float]
    inertia: dict[int, float]
    k_choice: KChoice | None = None  # why `k="auto"` chose k; None for a fixed k or HDBSCAN
    small_segments: SmallSegments | None = None  # segments under the minimum size (a fixed k, HDBSCAN)
    text_features: bool
    segments: list[SegmentProfile]
    currency: str | None = None  # of the spend figures (AOV); None in a summary an older release wrote
    assignments_parquet: str
    assignments_csv: str
    summary_json: str
    report_html: str | None = None
    # the BG/NBD and Gamma-Gamma fits' behind the CLV and P(alive) columns (parameters that ran off
    # to a limit): read before using those columns
    warnings: list[str] = []


class CustomerTables(BaseModel):
    """Customer-level frames the report draws from (kept out of the JSON summary)."""

    model_config = {"arbitrary_types_allowed": True}
    assignments: pd.DataFrame
    rfm: pd.DataFrame


def _check_options(
    k: object, lang: object, method: object, min_segment_share: object, min_segment_customers: object
) -> None:
    """The CLI checks its flags; a library call with k=1, method="dbscan" or lang="fr" ran k-means
    with a wrong label, or failed only after the clustering with a pydantic traceback."""
    if k != "auto" and (isinstance(k, bool) or not isinstance(k, Integral) or k < 2):
        raise UserError(f"k must be 'auto' or an integer >= 2, got {k!r}.")
    if lang not in (None, "zh", "en"):
        raise UserError(f"lang must be 'zh' or 'en', got {lang!r}.")
    if method not in ("kmeans", "hdbscan"):
        raise UserError(f"method must be 'kmeans' or 'hdbscan', got {method!r}.")
    if method == "hdbscan" and k != "auto":
        raise UserError(
            "k sets the number of k-means segments; HDBSCAN finds its own number.",
            hint="leave k='auto', or use method='kmeans'",
        )
    if isinstance(min_segment_share, bool) or not isinstance(min_segment_share, int | float):
        raise UserError(f"min_segment_share must be a number, got {min_segment_share!r}.")
    if not 0 <= min_segment_share <= 0.5:
        raise UserError(f"min_segment_share must be between 0 and 0.5, got {min_segment_share!r}.")
    if isinstance(min_segment_customers, bool) or not isinstance(min_segment_customers, Integral):
        raise UserError(f"min_segment_customers must be an integer, got {min_segment_customers!r}.")
    if min_segment_customers < 1:
        raise UserError(f"min_segment_customers must be at least 1, got {min_segment_customers!r}.")


def run_segmentation(
    settings: Settings,
    *,
    k: int | Literal["auto"] = "auto",
    lang: Language | None = None,
    method: Literal["kmeans", "hdbscan"] = "kmeans",
    text: bool = False,
    personas: bool = True,
    report: bool = True,
    max_attempts: int = 3,
    min_segment_share: float = 0.05,
    min_segment_customers: int = 10,
) -> SegmentationResult:
    """Segment every customer with a completed purchase; personas in `lang` (default: settings.language)
    via the configured LLM (`personas=False`: template descriptions, no LLM call). The minimum segment
    size is max(min_segment_share × customers, min_segment_customers). With `k="auto"` no segment is
    smaller, and a shop without clear structure is one segment; `result.k_choice` says why. A fixed k
    and HDBSCAN keep their segments; any under the minimum is named in `result.small_segments` and
    gets no LLM call: its template description says it is too small to describe reliably."""
    _check_options(k, lang, method, min_segment_share, min_segment_customers)
    lang = lang or settings.language
    with Store.open(settings, read_only=True) as store:
        con = store.con
        as_of = registered_purchases(con)
        cutoff = as_of + dt.timedelta(days=1)
        frame = segmentation_frame(con, cutoff)
        rfm = compute_rfm(con, as_of=as_of)
        money = registered_money_currency(con) or settings.currency  # the spend figures' currency
        clv, clv_notes = _clv(con, as_of)
        X = behaviour_matrix(frame)
        if text:
            register_purchases(con, before=cutoff)
            X = X.join(text_matrix(con, frame.index, before=cutoff))
    if k != "auto" and k > len(X) // 2:
        raise UserError(
            f"--k {k} asks for more segments than {len(X)} customers can fill (at most {len(X) // 2})",
            hint="use a smaller --k, or --k auto",
        )
    model = SegmentModel(
        k=k,
        method=method,
        min_segment_share=min_segment_share,
        min_segment_customers=min_segment_customers,
    ).fit(X)
    labels = relabel_by_revenue(model.labels_, frame["monetary"].to_numpy())
    rfm_class = rfm.set_index("customer_id")["rfm_class"]
    stats = segment_stats(frame, labels, rfm_class, clv=clv)
    small = small_segments(stats, method=method, share=min_segment_share, floor=min_segment_customers)
    currency = "元" if lang == "zh" and money == "CNY" else money
    profiles = [
        SegmentProfile(stats=s, persona=p)
        for s, p in zip(
            stats, _personas(settings, stats, small, lang, currency, personas, max_attempts), strict=True
        )
    ]

    assignments = pd.DataFrame(
        {
            "customer_id": frame.index.to_numpy(),
            "segment": labels,
            "rfm_class": rfm_class.reindex(frame.index).to_numpy(),
            "clv": clv.reindex(frame.index).to_numpy() if clv is not None else np.nan,
            "p_alive": frame["p_alive"].to_numpy(),
        }
    )
    parquet, csv = write_table(settings, assignments, "intel", "segments")
    result = SegmentationResult(
        as_of=as_of,
        customers=len(frame),
        k=model.k_,
        method=method,
        silhouette=model.silhouette_,
        inertia=model.inertia_,
        k_choice=model.k_choice_,
        small_segments=small,
        text_features=text,
        segments=profiles,
        currency=money,
        assignments_parquet=str(parquet),
        assignments_csv=str(csv),
        summary_json=str(settings.path("intel", "segments.json")),
        warnings=[*clv_notes, *feature_warnings((cutoff, frame))],
    )
    if report:
        from marketpilot.analytics.reports import write_segment_report

        result.report_html = str(
            write_segment_report(settings, result, CustomerTables(assignments=assignments, rfm=rfm), lang)
        )
    target = settings.path("intel", "segments.json")
    write_text(target, json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return result


def _clv(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> tuple[pd.Series | None, list[str]]:
    """One-year discounted CLV per customer from BG/NBD + Gamma-Gamma on the whole history, with the
    fits' warnings; None when the shop's history cannot be fitted."""
    register_store_transactions(con)
    summary = summarise(con, calibration_end=as_of, observation_end=as_of, time_unit="W")
    try:
        bgnbd, gamma_gamma = fit_models(summary, with_spend=True)
    except UserError:
        # CLV is one column of the segment statistics: a shop without enough repeat buyers for BG/NBD or
        # Gamma-Gamma must not stop the segmentation; its segments are shown without CLV.
        return None, []
    scores = score_customers(bgnbd, gamma_gamma, summary, time_unit="W")
    fits = fit_warnings(bgnbd) + (fit_warnings(gamma_gamma) if gamma_gamma else [])
    notes = [f"segment CLV: {note}" for note in fits]
    return scores.set_index("customer_id")["clv"], notes


def _personas(
    settings: Settings,
    stats: list[SegmentStats],
    small: SmallSegments | None,
    lang: Language,
    currency: str,
    use_llm: bool,
    max_attempts: int,
) -> list[Persona]:
    too_small = small.sizes if small else {}
    # No client when no segment will be written by the model: loading the embedded model takes a while.
    client: LLMClient | None = None
    if use_llm and len(too_small) < len(stats):
        from marketpilot.llm import get_client

        client = get_client(settings)
    shop = ShopAverages.of(stats)

    def persona(s: SegmentStats) -> Persona:
        if s.segment in too_small:
            return small_segment_persona(s, lang, currency)
        if client is None:
            return template_persona(s, lang, currency, attempts=0, rejected=[])
        # One request per segment (a handful), never per customer: no personal data reaches the model.
        return write_persona(
            client,
            s,
            n_segments=len(stats),
            shop=shop,
            lang=lang,
            currency=currency,
            max_attempts=max_attempts,
        )

    # Template names carry the segment number; the model's may repeat across segments.
    return distinct_names([persona(s) for s in stats])
