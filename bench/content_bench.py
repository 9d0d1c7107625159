"""Content benchmarks. Run: .venv/bin/python bench/content_bench.py [--adgen N] [--skip-throughput]

1. Generation throughput: 1,000 briefs against the local OpenAI-protocol server (tests/llm_server.py, a
   real HTTP server on 127.0.0.1) at high concurrency, through the full path: prompt rendering,
   complete_many, structured output, guardrails on every variant, repair calls, embedding dedupe.
   The server answers instantly, so this measures MarketPilot's own overhead per brief.
2. LLM calls for a 1M-customer campaign (segments × products × channels) and the vectorised
   per-customer render of 1M messages from one variant.
3. AdvertiseGen with the embedded model (--adgen N distinct inputs; 0 skips): BLEU-4, ROUGE-L,
   attribute coverage, hallucination, distinct-2, next to the human references.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import OpenAITestServer, Reply  # noqa: E402
from marketpilot.config import get_settings  # noqa: E402
from marketpilot.content.briefs import Brief  # noqa: E402
from marketpilot.content.generate import Variant, generate_variants, report  # noqa: E402
from marketpilot.content.slots import render_batch  # noqa: E402
from marketpilot.llm import get_client  # noqa: E402

_PRICE = re.compile(r"现价：(\d+)元")


def copywriter(request: dict) -> Reply:
    """Answers like a model would: three variants using the prompt's price; one brief in ten gets a
    wrong price in one variant (so repairs are exercised), and repair prompts get the right price."""
    prompt = request["messages"][-1]["content"]
    price = int(_PRICE.search(prompt).group(1))
    name = re.search(r"商品：(\S+)", prompt).group(1)
    if "需要改写的文案" in prompt:
        variants = [{"angle": "scarcity", "text": f"11月11日截止，{name}现价{price}元"}]
    else:
        wrong = price - 20 if price % 10 == 9 else price
        variants = [
            {"angle": "benefit", "text": f"{{name}}，{name}现价{price}元，轻暖一整个冬天"},
            {"angle": "scarcity", "text": f"最后一天！{name}只要{wrong}元"},
            {"angle": "social_proof", "text": f"回购的老顾客都说{name}值得，现价{price}元"},
        ]
    return Reply(text=json.dumps({"variants": variants}, ensure_ascii=False))


def briefs(n: int) -> list[Brief]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        price = int(rng.integers(50, 900))
        out.append(
            Brief.model_validate(
                {
                    "product": {
                        "product_id": f"P{i}",
                        "name": f"商品{i}号",
                        "price": price + 100,
                        "promo_price": price,
                    },
                    "audience": {"segment": f"S{i % 8}"},
                    "brand": {"shop_name": "暖冬小铺"},
                    "offer": {"deadline": "2025-11-11"},
                }
            )
        )
    return out


def throughput(n_briefs: int, concurrency: int) -> dict:
    with OpenAITestServer(default=copywriter) as server, tempfile.TemporaryDirectory() as home:
        settings = server.settings(home, llm_cache=False)
        client = get_client(settings)
        batch = briefs(n_briefs)
        started = time.perf_counter()
        sets = generate_variants(batch, client, n=3, concurrency=concurrency)
        seconds = time.perf_counter() - started
        summary = report(sets)
        return {
            "briefs": n_briefs,
            "concurrency": concurrency,
            "seconds": round(seconds, 2),
            "briefs_per_s": round(n_briefs / seconds, 1),
            "variants": summary.variants,
            "fixed": summary.fixed,
            "dropped": summary.dropped,
            "drop_reasons": summary.drop_reasons,
            "llm_calls": summary.llm_calls,
            "http_requests": len(server.requests),
        }


def campaign_calls(customers: int, segments: int, products: int, channels: int) -> dict:
    """Calls are counted by running generation for the campaign's briefs against the local server."""
    with OpenAITestServer(default=copywriter) as server, tempfile.TemporaryDirectory() as home:
        client = get_client(server.settings(home, llm_cache=False))
        batch = [
            b.model_copy(update={"channel": ch})
            for b in briefs(segments * products)
            for ch in ("sms", "push", "email_subject")[:channels]
        ]
        sets = generate_variants(batch, client, n=3, concurrency=32, max_repairs=0)
        variant = next(v for s in sets for v in s.variants if "{name}" in v.text)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "name": rng.choice(["王小明", "李雷", "韩梅梅", None], size=customers),
            "personalise": rng.random(customers) > 0.1,
        }
    )
    started = time.perf_counter()
    messages = render_batch(Variant.model_validate(variant.model_dump()), frame)
    render_s = time.perf_counter() - started
    return {
        "customers": customers,
        "briefs": len(batch),
        "llm_calls": sum(s.llm_calls for s in sets),
        "calls_per_customer": round(sum(s.llm_calls for s in sets) / customers, 6),
        "render_seconds": round(render_s, 2),
        "sample_message": messages.iloc[0],
    }


def adgen(limit: int) -> dict:
    from marketpilot.content.evaluate import evaluate_advertisegen

    with tempfile.TemporaryDirectory() as home:
        settings = get_settings(home)
        out = ROOT / "bench" / "results" / "content_adgen_generated.jsonl"
        client = get_client(settings)
        total, generated = 0.0, 0
        # in steps of 10, resuming from `out`, so an interrupted run keeps what it generated
        for step in range(10, limit + 10, 10):
            result = evaluate_advertisegen(
                ROOT / "data" / "advertisegen" / "dev_half.jsonl",
                client,
                limit=min(step, limit),
                out=out,
                concurrency=1,
                resume=True,
            )
            total += result.seconds
            generated += result.generated_now
            print(f"advertisegen: {result.generated.n}/{limit} inputs, {total:.0f}s generating", flush=True)
        payload = result.model_dump(mode="json")
        payload["seconds_per_input"] = round(
            total / max(1, generated), 1
        )  # over inputs generated in this run
        return payload


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--briefs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--adgen", type=int, default=100, help="AdvertiseGen inputs for the embedded model (0 skips)"
    )
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {}
    if not args.skip_throughput:
        results["throughput"] = throughput(args.briefs, args.concurrency)
        print(json.dumps({"throughput": results["throughput"]}, ensure_ascii=False, indent=1), flush=True)
        results["campaign_1m"] = campaign_calls(1_000_000, segments=8, products=20, channels=3)
        print(json.dumps({"campaign_1m": results["campaign_1m"]}, ensure_ascii=False, indent=1), flush=True)
    if args.adgen:
        results["advertisegen"] = adgen(args.adgen)
        print(json.dumps({"advertisegen": results["advertisegen"]}, ensure_ascii=False, indent=1), flush=True)


if __name__ == "__main__":
    main()
