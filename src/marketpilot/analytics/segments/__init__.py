"""Customer segments: behaviour features, k-means or HDBSCAN, per-segment statistics and personas
checked against them (docs/customer-intelligence.md).

from marketpilot.analytics.segments import run_segmentation
result = run_segmentation(settings, k=4, personas=False)   # template personas, no LLM
"""

from marketpilot.analytics.segments.service import SegmentationResult, SegmentProfile, run_segmentation

__all__ = ["SegmentProfile", "SegmentationResult", "run_segmentation"]
