"""Customer lifetime value: BG/NBD purchase counts, Gamma-Gamma spend, discounted CLV."""

from marketpilot.analytics.clv.bgnbd import BetaGeoModel
from marketpilot.analytics.clv.gamma_gamma import GammaGammaModel
from marketpilot.analytics.clv.scoring import discounted_clv, score_customers
from marketpilot.analytics.clv.service import CLVFitResult, CLVScores, FileSource, fit_clv, predict_clv
from marketpilot.analytics.clv.transactions import summarise

__all__ = [
    "BetaGeoModel",
    "CLVFitResult",
    "CLVScores",
    "FileSource",
    "GammaGammaModel",
    "discounted_clv",
    "fit_clv",
    "predict_clv",
    "score_customers",
    "summarise",
]
