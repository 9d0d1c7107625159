"""One Settings object: MARKETPILOT_* environment variables, then marketpilot.toml, then defaults."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from marketpilot.errors import UserError

# Any name registered with marketpilot.llm.register_provider (built-ins: llamacpp, openai_compat); an
# unknown name fails when the client is built, with the registered names in the message.
LLMProviderName = str
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


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
    # NoDecode: the validator below reads the environment's JSON, so that bad JSON is a clear error.
    llm_prices: Annotated[dict[str, dict[str, float]], NoDecode] = Field(default_factory=dict)

    # Campaign state: SQLite under home unless a URL is given (postgresql+psycopg://...)
    database_url: str | None = None

    # Secret for pseudonymous keys and webhook signatures; generated into home when unset.
    secret_key: SecretStr | None = None

    dispatch_rate_per_s: float = Field(default=50.0, gt=0)

    # REST API (`marketpilot serve`): the keys a client may send as X-API-Key. The environment gives
    # one key, several separated by commas or a JSON list: MARKETPILOT_API_KEYS=k1,k2 or '["k1", "k2"]'.
    # With none, the server starts only on loopback with --no-auth.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # The largest request body the API reads, in MiB (docs/api.md, Request limits): a bigger one is a 413
    # before it is read. Every route's own limits fit well inside the first (a copy check's 50,000
    # characters, an assistant question with 20 turns of history: under 1 MiB even as \u escapes); the
    # batch routes (review sentiment, the decisions' rows) take up to 10,000,000 characters or 200,000
    # rows, which the second holds for texts (10 M Chinese characters are 30 MB as UTF-8, 60 MB as \u
    # escapes) and for rows of a few cells (~330 bytes a row); a wider table of 200,000 rows, or one of
    # long Chinese titles, needs the limit raised or the rows sent in parts.
    api_max_body_mb: float = Field(default=2.0, gt=0)
    api_max_batch_body_mb: float = Field(default=64.0, gt=0)

    @field_validator("llm_prices", mode="before")
    @classmethod
    def _prices_from_json(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f'not JSON ({exc.msg}); write e.g. {{"deepseek-chat": {{"input": 2.0, "output": 8.0}}}}'
            ) from None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_from_text(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f'not a JSON list ({exc.msg}); write \'["k1", "k2"]\' or k1,k2') from None
        return [key.strip() for key in text.split(",") if key.strip()]

    @field_validator("api_keys", mode="after")
    @classmethod
    def _keys_sendable(cls, keys: list[SecretStr]) -> list[SecretStr]:
        # A key travels in the X-API-Key header: visible ASCII only. Spaces, quotes and brackets are a
        # mistyped list (k1 k2, ['k1']), caught here rather than as a key no client can match.
        for key in keys:
            text = key.get_secret_value()
            if not text or any(not "!" <= ch <= "~" or ch in "\"'[]" for ch in text):
                raise ValueError(
                    "a key is empty or holds a space, a quote, a bracket or a non-ASCII character; "
                    'give one key, several separated by commas (k1,k2) or a JSON list (\'["k1", "k2"]\')'
                )
        return keys

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
            # Processes that start on a new home together (`serve --workers 2`, two jobs) must end up
            # with one key: each writes its own temporary file whole, and a hard link puts it in place
            # only where no key is yet, so the first one wins and every other reads it.
            tmp = key_file.with_name(f".secret.key.{uuid.uuid4().hex}.tmp")
            try:
                tmp.write_bytes(os.urandom(32).hex().encode())
                tmp.chmod(0o600)
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, key_file)
            finally:
                tmp.unlink(missing_ok=True)
        return key_file.read_bytes().strip()


def get_settings(home: Path | str | None = None, **overrides: object) -> Settings:
    """Settings from the environment and marketpilot.toml; `home` (the --home flag) wins over both.

    A value that does not validate is a UserError naming where it came from (see `load_settings`)."""
    if home is not None:
        overrides["home"] = Path(home)
    return load_settings(Settings, **overrides)


def load_settings(settings_cls: type[SettingsT], **overrides: object) -> SettingsT:
    """`settings_cls` read from its sources, `overrides` winning. Every value that does not validate is
    named in one line, "Bad setting: VARIABLE: problem; …", by where it came from (the argument, the
    environment variable or marketpilot.toml) and never by its value, which may be a secret."""
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        prefix = settings_cls.model_config.get("env_prefix") or ""
        problems = "; ".join(
            f"{_origin(str(e['loc'][0]), prefix, overrides)}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise UserError(f"Bad setting: {problems}") from None


def _origin(field: str, prefix: str, overrides: dict[str, object]) -> str:
    """Where a setting was read: the argument, the environment variable or marketpilot.toml (a default
    always validates, so a value from none of the first two came from the file)."""
    variable = f"{prefix}{field}".upper()
    if field in overrides:
        return field
    if any(name.upper() == variable for name in os.environ):
        return variable
    return f"{field} in {_toml_path()}"
