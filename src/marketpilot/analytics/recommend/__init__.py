"""Recommendation: which products to put in front of each customer, measured on real data.

Every recommender implements one interface (`Recommender`: fit / recommend / similar_items) and
registers by name in `RECOMMENDERS`; `evaluate` compares them on a leakage-free time split and
`serving` precomputes top-K tables with reasons for the campaigns.
"""

from marketpilot.analytics.recommend.base import RECOMMENDERS, Recommender, get_recommender, register
from marketpilot.analytics.recommend.content import ContentRecommender
from marketpilot.analytics.recommend.evaluate import EvaluationReport, evaluate
from marketpilot.analytics.recommend.factor import ALSRecommender, BPRRecommender
from marketpilot.analytics.recommend.hybrid import HybridRecommender
from marketpilot.analytics.recommend.interactions import read_interactions
from marketpilot.analytics.recommend.knn import ItemKNNRecommender, UserKNNRecommender
from marketpilot.analytics.recommend.popularity import PopularityRecommender
from marketpilot.analytics.recommend.repeat import RepeatRecommender
from marketpilot.analytics.recommend.rules import Rules
from marketpilot.analytics.recommend.serving import (
    recommend_for_all,
    recommendations_for,
    similar_products,
    store_rules,
)

__all__ = [
    "RECOMMENDERS",
    "ALSRecommender",
    "BPRRecommender",
    "ContentRecommender",
    "EvaluationReport",
    "HybridRecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "Recommender",
    "RepeatRecommender",
    "Rules",
    "UserKNNRecommender",
    "evaluate",
    "get_recommender",
    "read_interactions",
    "recommend_for_all",
    "recommendations_for",
    "register",
    "similar_products",
    "store_rules",
]
