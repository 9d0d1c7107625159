"""Connecting to Ray: a running cluster by address, or a local one started for the job."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from marketpilot.errors import MissingExtraError


def ray_module() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray") from exc
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, initialised: joins `address` ("auto", "ray://head:10001") or starts a local instance with
    `num_cpus`. A session that was already initialised (a notebook, a test) is used as it is and left
    running; one started here is shut down afterwards.

    Ray prints its cluster's error messages ("Task ... failed. There are infinite retries
    remaining") on the driver's stdout whatever `log_to_driver` says, which would break the JSON a
    command prints there; while the work runs they go to stderr."""
    ray = ray_module()
    with redirect_stdout(sys.stderr):
        if ray.is_initialized():
            yield ray
            return
        yield from _started(ray, address, num_cpus)


def _started(ray: Any, address: str | None, num_cpus: int | None) -> Iterator[Any]:
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()
