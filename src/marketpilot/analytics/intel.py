"""Customer intelligence in one call, for `marketpilot demo` and the dashboard:
RFM + CLV + segments with personas on whatever the store holds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from marketpilot.analytics.clv.service import CLVScores, predict_clv
from marketpilot.analytics.rfm import RFMSummary, run_rfm
from marketpilot.analytics.segments.personas import Language
from marketpilot.analytics.segments.service import SegmentationResult, run_segmentation
from marketpilot.config import Settings


class IntelSummary(BaseModel):
    rfm: RFMSummary
    clv: CLVScores
    segments: SegmentationResult


def run_intel(
    settings: Settings,
    *,
    lang: Language | None = None,
    personas: bool = True,
    k: int | Literal["auto"] = "auto",
    persona_attempts: int = 3,
) -> IntelSummary:
    """RFM (<home>/intel/rfm.*), CLV scores (<home>/intel/clv.*), segments with personas
    (<home>/intel/segments.*) and the HTML report (<home>/reports/segments.html). `k` and
    `persona_attempts` bound the LLM work: one persona call per segment and attempt (none for a
    segment under the minimum size)."""
    rfm, _ = run_rfm(settings)
    clv, _ = predict_clv(settings)
    segments = run_segmentation(settings, k=k, lang=lang, personas=personas, max_attempts=persona_attempts)
    return IntelSummary(rfm=rfm, clv=clv, segments=segments)
