"""Campaign benchmark: one campaign over N customers (default 1,000,000): audience query → consent and
suppression → channel choice → frequency caps → holdout/variant assignment → per-customer rendering →
queued messages in state (SQLite) → export dispatch. Copy is generated through the real LLM client and
content's generator against a local OpenAI-protocol server, so the LLM call count is real; it must not
grow with N. Run: .venv/bin/python bench/campaign_bench.py [--customers N]"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llm_server import OpenAITestServer, json_reply
from marketpilot.campaigns import service
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.db import open_state
from marketpilot.config import get_settings
from marketpilot.data.store import Store

COPY = {
    "variants": [
        {"angle": "benefit", "text": "{name}，新春全场8折，回店看看"},
        {"angle": "seasonal", "text": "{name}，好久不见！新春8折惊喜"},
    ]
}
SPEC = {
    "name": "bench",
    "goal": "festival_promotion",
    "audience": {"segments": ["沉睡客户", "高价值", "新客"]},
    "offer": {"description": "全场8折", "discount": 0.2},
    "channels": [{"name": "export", "variants": [{"key": "A"}, {"key": "B"}]}],
}


def build(home: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    settings = get_settings(home)
    ids = pd.Series(np.char.add("C", np.char.zfill(np.arange(n).astype(str), 8)))
    surnames = np.array(list("王李张刘陈杨黄赵吴周"))
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", pd.DataFrame({"customer_id": ids}))
        store.upsert(
            "customer_pii", pd.DataFrame({"customer_id": ids, "name": surnames[rng.integers(0, 10, n)]})
        )
    intel = settings.home_dir / "intel"
    intel.mkdir(parents=True, exist_ok=True)
    segments = np.array(["沉睡客户", "高价值", "新客", "流失"])[rng.integers(0, 4, n)]
    pd.DataFrame({"customer_id": ids, "segment": segments}).to_parquet(intel / "segments.parquet")
    pd.DataFrame({"customer_id": ids, "p_purchase_30d": rng.beta(2, 8, n)}).to_parquet(
        intel / "propensity_purchase.parquet"
    )


def run(n: int, server: OpenAITestServer) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        build(home, n)
        setup_s = time.perf_counter() - t0
        before = len(server.requests)
        settings = server.settings(home)
        engine = open_state(settings)
        cid = service.create_campaign(engine, parse_spec(SPEC))
        service.approve(engine, cid, approver="bench")
        t1 = time.perf_counter()
        result = run_campaign(settings, cid)
        wall = time.perf_counter() - t1
        parts = list((settings.home_dir / "exports" / cid / "v1").glob("part-*.csv"))
        exported = sum(len(pd.read_csv(p, usecols=["idempotency_key"])) for p in parts)
        assert exported == result.sent == result.plan.queued, (exported, result)
        return {
            "customers": n,
            "audience": result.plan.audience,
            "messages": result.sent,
            "holdout": result.plan.holdout,
            "setup_s": round(setup_s, 1),
            "campaign_wall_s": round(wall, 1),
            "llm_calls": len(server.requests) - before,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ["MARKETPILOT_LLM_CACHE"] = "false"
    with OpenAITestServer(default=lambda request: json_reply(COPY)) as server:
        for n in (10_000, args.customers):
            print(run(n, server), flush=True)


if __name__ == "__main__":
    main()
