"""The `marketpilot` command. Each area registers its commands from its own module here."""

from __future__ import annotations

import sys

from marketpilot.cli import (
    assistant_cmd,  # noqa: F401  (registers assistant ask|handoffs)
    campaign_cmd,  # noqa: F401  (registers campaign …, track ingest|serve)
    copy_cmd,  # noqa: F401  (registers copy generate|check|eval|render)
    data_cmd,  # noqa: F401  (registers load)
    decide_cmd,  # noqa: F401  (registers decide uplift|price|budget)
    demo_cmd,  # noqa: F401  (registers demo)
    intel_cmd,  # noqa: F401  (registers rfm, clv, segment, propensity)
    llm_cmd,  # noqa: F401  (registers llm check|chat|usage)
    recommend_cmd,  # noqa: F401  (registers recommend evaluate/fit/for/similar)
    reviews_cmd,  # noqa: F401  (registers reviews sentiment|insight)
    sample_cmd,  # noqa: F401  (registers sample generate)
    scale_cmd,  # noqa: F401  (registers scale sentiment|copy: Ray)
    serve_cmd,  # noqa: F401  (registers serve: the REST API)
)
from marketpilot.cli.app import app, run_app, unwrap_help

unwrap_help(app)  # every command is registered by now


def main() -> None:
    sys.exit(run_app(app))


__all__ = ["app", "main"]
