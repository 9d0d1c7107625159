"""Review insight: sentiment, aspect-level sentiment, keywords, complaint clusters, cited needs/pain points.

from marketpilot.analytics.reviews import review_insight, load_model
insight = review_insight(settings, category="保温杯")   # .selling_points, .pain_points, .aspects
load_model().predict(["质量很好，物流很快"])              # label, probability per text
"""

from marketpilot.analytics.reviews.aspects import AspectStat, aspect_mentions, summarise_aspects
from marketpilot.analytics.reviews.batch import score_file
from marketpilot.analytics.reviews.insight import Claim, ReviewInsight, analyse_reviews, review_insight
from marketpilot.analytics.reviews.keywords import ComplaintCluster, cluster_complaints, keywords
from marketpilot.analytics.reviews.report import write_report
from marketpilot.analytics.reviews.sentiment import (
    NgramSentiment,
    SentimentModel,
    detect_language,
    load_model,
)

__all__ = [
    "AspectStat",
    "Claim",
    "ComplaintCluster",
    "NgramSentiment",
    "ReviewInsight",
    "SentimentModel",
    "analyse_reviews",
    "aspect_mentions",
    "cluster_complaints",
    "detect_language",
    "keywords",
    "load_model",
    "review_insight",
    "score_file",
    "summarise_aspects",
    "write_report",
]
