"""The `marketpilot` command. Each area registers its commands from its own module here."""

from __future__ import annotations

import sys

from marketpilot.cli.app import app, run_app
from marketpilot.cli import data_cmd  # noqa: F401  (registers load, sample, demo)
from marketpilot.cli import llm_cmd  # noqa: F401  (registers llm check|chat|usage)
from marketpilot.cli import intel_cmd  # noqa: F401  (registers rfm, clv, segment, propensity)
from marketpilot.cli import copy_cmd  # noqa: F401  (registers copy generate|check|eval|render)
from marketpilot.cli import recommend_cmd  # noqa: F401  (registers recommend evaluate/fit/for/similar)
from marketpilot.cli import sample_cmd  # noqa: F401  (registers sample generate)
from marketpilot.cli import campaign_cmd  # noqa: F401  (registers campaign …, track ingest|serve)
from marketpilot.cli import reviews_cmd  # noqa: F401  (registers reviews sentiment|insight)


def main() -> None:
    sys.exit(run_app(app))


__all__ = ["app", "main"]
