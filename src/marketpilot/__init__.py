"""MarketPilot's public Python API: the functions the CLI commands call, importable from the top.

    import marketpilot as mp
    settings = mp.get_settings("shop-home")
    mp.make_sample(settings, customers=300)
    mp.run_rfm(settings)

Names are imported on first use (PEP 562), so `import marketpilot` stays quick and loads neither
DuckDB, scikit-learn nor a model until a function needs it. docs/python-api.md walks through them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name → the module that defines it
_EXPORTS: dict[str, str] = {
    # settings, errors, data
    "Settings": "marketpilot.config",
    "get_settings": "marketpilot.config",
    "MarketPilotError": "marketpilot.errors",
    "UserError": "marketpilot.errors",
    "ValidationFailed": "marketpilot.errors",
    "NotFoundError": "marketpilot.errors",
    "ProviderError": "marketpilot.errors",
    "Store": "marketpilot.data",
    "load_file": "marketpilot.data",
    "make_sample": "marketpilot.data.sample",
    # customer intelligence
    "run_rfm": "marketpilot.analytics.rfm",
    "fit_clv": "marketpilot.analytics.clv",
    "predict_clv": "marketpilot.analytics.clv",
    "run_segmentation": "marketpilot.analytics.segments",
    "train_propensity": "marketpilot.analytics.propensity",
    "score_propensity": "marketpilot.analytics.propensity",
    # recommendation
    "recommendations_for": "marketpilot.analytics.recommend",
    "similar_products": "marketpilot.analytics.recommend",
    # review insight
    "review_insight": "marketpilot.analytics.reviews",
    "score_file": "marketpilot.analytics.reviews",
    "load_sentiment_model": "marketpilot.analytics.reviews",
    # content
    "Brief": "marketpilot.content",
    "BriefExtras": "marketpilot.content",
    "brief_for": "marketpilot.content",
    "check_copy": "marketpilot.content",
    "generate_for_product": "marketpilot.content",
    # decisions
    "PromoSpec": "marketpilot.analytics.promo",
    "plan_promotions": "marketpilot.analytics.promo",
    "Experiment": "marketpilot.analytics.uplift",
    "fit_experiment": "marketpilot.analytics.uplift",
    "HistoryFile": "marketpilot.analytics.budget",
    "plan_budget": "marketpilot.analytics.budget",
    "CompetitorFile": "marketpilot.analytics.pricing",
    "price_report": "marketpilot.analytics.pricing",
    # campaigns
    "plan_campaign": "marketpilot.campaigns.planner",
    "create_checked": "marketpilot.campaigns.planner",
    "CampaignSpec": "marketpilot.campaigns.spec",
    "parse_spec": "marketpilot.campaigns.spec",
    "load_spec": "marketpilot.campaigns.spec",
    "run_campaign": "marketpilot.campaigns.executor",
    "optimize_campaign": "marketpilot.campaigns.optimize",
    # assistant
    "answer_question": "marketpilot.assistant",
}
# a public name that differs from the defining module's
_RENAMED = {"load_sentiment_model": "load_model"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'marketpilot' has no attribute {name!r}")
    value = getattr(import_module(module), _RENAMED.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    # The public API only: not the helpers, imports and submodules that globals() also holds.
    return list(__all__)
