"""One Settings object: MARKETPILOT_* environment variables, then marketpilot.toml, then defaults."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Any name registered with marketpilot.llm.register_provider (built-ins: llamacpp, openai_compat); an
# unknown name fails when the client is built, with the registered names in the message.
LLMProviderName = str


def _toml_path() -> Path:
    return Path(os.environ.get("MARKETPILOT_CONFIG", "marketpilot.toml"))


class Settings(BaseSettings):
    """Every setting MarketPilot reads. `home` holds every file the tool writes."""

    model_config = SettingsConfigDict(env_prefix="MARKETPILOT_", extra="ignore")

    home: Path = Path(".marketpilot")
    # Shared, rebuildable artefacts (the assembled GGUF model, embedding cache) live outside home so
    # that many homes (tests, demos) reuse one copy.
    cache_dir: Path = Path("~/.cache/marketpilot")
    language: Literal["zh", "en"] = "zh"
    currency: str = "CNY"

    # LLM (see docs/llm.md)
    llm_provider: LLMProviderName = "llamacpp"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model_path: Path | None = None
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 4
    llm_concurrency: int = 8
    llm_fallback_provider: LLMProviderName | None = None
    llm_cache: bool = True
    llm_n_ctx: int = 4096
    llm_threads: int | None = None
    # Price per million tokens by model name, e.g. {"deepseek-chat": {"input": 2.0, "output": 8.0}}
    # (in `currency`); models not listed cost 0 in the ledger.
    llm_prices: dict[str, dict[str, float]] = Field(default_factory=dict)

    # Campaign state: SQLite under home unless a URL is given (postgresql+psycopg://...)
    database_url: str | None = None

    # Secret for pseudonymous keys and webhook signatures; generated into home when unset.
    secret_key: SecretStr | None = None

    dispatch_rate_per_s: float = Field(default=50.0, gt=0)

    # REST API (`marketpilot serve`): the keys a client may send as X-API-Key; env as a JSON list,
    # MARKETPILOT_API_KEYS='["k1", "k2"]'. With none, the server starts only on loopback with --no-auth.
    api_keys: list[SecretStr] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()))

    @cached_property
    def home_dir(self) -> Path:
        """The home directory, created on first use."""
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, *parts: str) -> Path:
        """A path under home; parent directories are created."""
        target = self.home_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def cache_path(self, *parts: str) -> Path:
        target = self.cache_dir.expanduser().resolve().joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def state_url(self) -> str:
        return self.database_url or f"sqlite:///{self.path('state.sqlite')}"

    def secret(self) -> bytes:
        """A stable per-home secret (for pseudonymous keys); created once, kept in home."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        key_file = self.path("secret.key")
        if not key_file.exists():
            tmp = key_file.with_suffix(".tmp")
            tmp.write_bytes(os.urandom(32).hex().encode())
            tmp.chmod(0o600)
            tmp.replace(key_file)
        return key_file.read_bytes().strip()


def get_settings(home: Path | str | None = None, **overrides: object) -> Settings:
    """Settings from the environment and marketpilot.toml; `home` (the --home flag) wins over both."""
    if home is not None:
        overrides["home"] = Path(home)
    return Settings(**overrides)  # type: ignore[arg-type]
