"""`marketpilot serve` in a child process on a free port, for the tests that need real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Served:
    url: str
    process: subprocess.Popen  # type: ignore[type-arg]
    log: Path  # the server's stderr (uvicorn's log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(home: Path, *args: str, env: dict[str, str] | None = None, log: Path) -> Iterator[Served]:
    """Start the server over `home`, wait for /health, yield it; SIGTERM (then kill) on the way out."""
    port = free_port()
    command = [sys.executable, "-c", "from marketpilot.cli import main; main()", "serve", "--port", str(port)]
    environment = os.environ | {"MARKETPILOT_HOME": str(home)} | (env or {})
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [*command, *args], env=environment, stdout=subprocess.DEVNULL, stderr=stderr
        )
        served = Served(f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_until_up(served)
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                raise


def _wait_until_up(served: Served, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"server exited with {served.process.returncode}: {served.log.read_text()}")
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not come up")
