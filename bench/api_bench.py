"""REST API throughput: `marketpilot serve` (uvicorn, one process) answering POST /v1/reviews/sentiment
with real reviews, over HTTP from a pool of client threads; requests/s, reviews/s and latency.

    .venv/bin/python bench/api_bench.py [--requests 400] [--texts 100] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from marketpilot.analytics.reviews import corpora

KEY = "bench-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--texts", type=int, default=100, help="reviews per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    args = parser.parse_args()
    pool = corpora.load_zh().text.to_numpy()
    rng = np.random.default_rng(0)
    bodies = [{"texts": rng.choice(pool, args.texts).tolist()} for _ in range(args.requests)]
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        env = os.environ | {"MARKETPILOT_HOME": home, "MARKETPILOT_API_KEYS": json.dumps([KEY])}
        command = [
            sys.executable,
            "-c",
            "from marketpilot.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            with httpx.Client(headers={"X-API-Key": KEY}, timeout=60) as client:
                client.post(f"{url}/v1/reviews/sentiment", json=bodies[0])  # loads the model

                def one(body: dict) -> float:  # type: ignore[type-arg]
                    start = time.perf_counter()
                    response = client.post(f"{url}/v1/reviews/sentiment", json=body)
                    response.raise_for_status()
                    return time.perf_counter() - start

                start = time.perf_counter()
                with ThreadPoolExecutor(args.clients) as executor:
                    latencies = np.array(list(executor.map(one, bodies)))
                total = time.perf_counter() - start
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    print(
        f"{args.requests} requests × {args.texts} reviews, {args.clients} clients, one uvicorn process on "
        f"{os.cpu_count()} CPUs: {args.requests / total:,.1f} requests/s, "
        f"{args.requests * args.texts / total:,.0f} reviews/s; latency p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )


if __name__ == "__main__":
    main()
