"""A sample shop (catalogue, customers, orders) for the assistant, built once per module."""

from __future__ import annotations

import pytest

from marketpilot.config import Settings, get_settings


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("assistant") / "home")
    make_sample(settings, customers=300, seed=3)
    return settings
