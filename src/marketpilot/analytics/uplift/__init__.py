"""Uplift targeting from a randomised experiment: who should get which treatment (or none)."""

from marketpilot.analytics.uplift.metrics import QiniSummary, policy_value, qini_summary
from marketpilot.analytics.uplift.model import UpliftModel
from marketpilot.analytics.uplift.service import Experiment, UpliftReport, fit_experiment

__all__ = [
    "Experiment",
    "QiniSummary",
    "UpliftModel",
    "UpliftReport",
    "fit_experiment",
    "policy_value",
    "qini_summary",
]
