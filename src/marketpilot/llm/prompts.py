"""Prompt templates as files: `prompts/<name>.<lang>.j2`, a YAML header, one Jinja2 block per message.

See `prompts/README.md` for the format. Keeping prompts out of Python code lets us version them:
every completion records the template's name and version (`PromptRef`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from marketpilot.errors import UserError
from marketpilot.llm.base import Message, PromptRef

PROMPTS_DIR = Path(__file__).parent / "prompts"
# The header is a Jinja comment at the very top, so the whole file stays a valid template.
_HEADER = re.compile(r"\A\{#-?(.*?)-?#\}", re.DOTALL)
_ROLES = ("system", "user")
_UNTRUSTED_OPEN, _UNTRUSTED_CLOSE = "<data>", "</data>"


def untrusted(text: object) -> str:
    """Wrap customer-written text (reviews, messages) in delimiters the prompt tells the model to treat
    as data. Delimiters inside the text are removed so it cannot close the block early."""
    body = str(text).replace(_UNTRUSTED_OPEN, "").replace(_UNTRUSTED_CLOSE, "")
    return f"{_UNTRUSTED_OPEN}{body}{_UNTRUSTED_CLOSE}"


def _environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["untrusted"] = untrusted
    return env


class PromptTemplate:
    """One parsed template file. `render(**vars)` gives the chat messages, `ref` identifies it."""

    def __init__(self, path: Path, template: jinja2.Template, header: dict[str, Any], language: str) -> None:
        self.path = path
        self.name = str(header["name"])
        self.version = str(header["version"])
        self.description = str(header.get("description", ""))
        self.language = language
        self._template = template

    @property
    def ref(self) -> PromptRef:
        return PromptRef(name=self.name, version=self.version, language=self.language)

    def render(self, **variables: Any) -> list[Message]:
        """The messages (system first if the template has one). Raises UserError on a missing variable."""
        context = self._template.new_context(variables)
        messages = []
        try:
            for role in _ROLES:
                block = self._template.blocks.get(role)
                if block is None:
                    continue
                content = "".join(block(context)).strip()
                if content:
                    messages.append(Message(role=role, content=content))
        except jinja2.UndefinedError as exc:
            raise UserError(
                f"Prompt {self.path.name}: {exc}", hint="Pass every variable the template uses."
            ) from exc
        return messages

    def __repr__(self) -> str:
        return f"PromptTemplate({self.name!r}, version={self.version!r}, language={self.language!r})"


def _parse_header(path: Path, source: str) -> dict[str, Any]:
    match = _HEADER.match(source)
    if not match:
        raise UserError(
            f"Prompt {path}: missing header", hint="Start the file with {# name: ... version: ... #}"
        )
    try:
        header = yaml.safe_load(match.group(1).strip()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"Prompt {path}: header is not valid YAML: {exc}") from exc
    missing = [key for key in ("name", "version") if key not in header]
    if missing:
        raise UserError(f"Prompt {path}: header lacks {', '.join(missing)}")
    return header


@lru_cache(maxsize=256)
def _load(directory: Path, name: str, language: str) -> PromptTemplate:
    path = directory / f"{name}.{language}.j2"
    if not path.is_file():
        available = sorted(p.name for p in directory.glob(f"{name}.*.j2"))
        raise UserError(
            f"No prompt template {path.name} in {directory}",
            hint=f"Available for '{name}': {', '.join(available)}" if available else "Check the prompt name.",
        )
    source = path.read_text(encoding="utf-8")
    header = _parse_header(path, source)
    if str(header["name"]) != name:
        raise UserError(f"Prompt {path}: header name {header['name']!r} does not match the file name")
    template = _environment(directory).get_template(path.name)
    if "user" not in template.blocks:
        raise UserError(f"Prompt {path}: needs a {{% block user %}}")
    return PromptTemplate(path, template, header, language)


def load_prompt(name: str, lang: str = "zh", *, directory: Path | None = None) -> PromptTemplate:
    """Load `<name>.<lang>.j2` from the bundled prompts (or `directory`). Parsed once per process."""
    return _load((directory or PROMPTS_DIR).resolve(), name, lang)


def list_prompts(directory: Path | None = None) -> list[tuple[str, str]]:
    """(name, language) of every template file."""
    root = directory or PROMPTS_DIR
    return sorted(tuple(p.name[: -len(".j2")].rsplit(".", 1)) for p in root.glob("*.*.j2"))  # type: ignore[misc]
