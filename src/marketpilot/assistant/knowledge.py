"""What the assistant may answer from: the shop's policies, its catalogue, and the asking customer's
own orders, each as a `Passage` with an id the answer must cite.

Policies are Markdown, one passage per `##` section: `<home>/policies.<lang>.md` when the shop wrote
its own (UTF-8 or GBK), else the example policies shipped with the package. Products come from the
store, one passage each with the catalogue's price, stock and attributes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from marketpilot.config import Settings
from marketpilot.data.money import to_major
from marketpilot.embed import embed
from marketpilot.errors import UserError

Lang = Literal["zh", "en"]
DEFAULT_POLICIES = Path(__file__).parent / "data"
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.M)
_CHUNK = 256  # passages embedded between progress reports
# How much a passage sharing all of the question's words gains over one sharing none, on top of the
# cosine; on-topic cosines are 0.79–0.93 and often within 0.01 of the wrong passage's.
LEXICAL_WEIGHT = 0.1
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_STOP_WORDS = frozenset(
    {"the", "and", "for", "are", "was", "were", "you", "your", "our", "can", "could", "would", "will"}
    | {"what", "what's", "when", "where", "who", "which", "how", "does", "did", "with", "this", "that"}
    | {"from", "have", "has", "had", "any", "there", "their", "they", "its", "about", "into", "not", "but"}
)
# Particles and pronouns: "我的订单" shares 的订 with "未发货的订单取消", which says nothing of it.
_FUNCTION_CHARS = frozenset("的了吗呢吧啊呀么我你您他她它是在有和与就都也这那个")


class Passage(BaseModel):
    id: str  # policy:3, product:P000001, order:O0000000001
    kind: Literal["policy", "product", "order"]
    title: str
    text: str
    status: str | None = None  # an order's canonical status (completed, cancelled, returned)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UserError(f"{path}: neither UTF-8 nor GBK text", hint="save the policy file as UTF-8")


def policy_file(settings: Settings, lang: Lang) -> Path:
    """The shop's own policy file in `lang`, else its own file in the other language, else the shipped
    example. A shop that wrote only policies.zh.md must not answer English questions from the example's
    figures (99 instead of its own 199): the model reads Chinese sources and answers in English."""
    for code in (lang, "en" if lang == "zh" else "zh"):
        own = settings.home_dir / f"policies.{code}.md"
        if own.exists():
            return own
    return DEFAULT_POLICIES / f"policies.{lang}.md"


def policy_passages(settings: Settings, lang: Lang) -> list[Passage]:
    """One passage per `##` section (the text before the first heading is an introduction, skipped)."""
    path = policy_file(settings, lang)
    text = _decode(path)
    headings = list(_SECTION.finditer(text))
    if not headings:
        raise UserError(
            f"{path}: no '## ' sections", hint="write each policy under its own '## Title' heading"
        )
    passages = []
    for n, match in enumerate(headings, 1):
        end = headings[n].start() if n < len(headings) else len(text)
        body = " ".join(text[match.end() : end].split())
        if body:
            passages.append(Passage(id=f"policy:{n}", kind="policy", title=match.group(1), text=body))
    if not passages:  # headings only: the shop would silently have no policies at all
        raise UserError(f"{path}: every '## ' section is empty", hint="write each policy under its heading")
    return passages


def money_text(minor: object, currency: object, lang: Lang) -> str:
    if minor is None or (isinstance(minor, float) and np.isnan(minor)):
        return ""
    amount = to_major(int(minor), currency)  # type: ignore[call-overload]
    shown = f"{amount:.2f}".rstrip("0").rstrip(".")
    if lang == "zh" and currency in (None, "CNY"):
        return f"{shown}元"
    return f"{shown} {currency or ''}".strip()


def product_passages(settings: Settings, lang: Lang) -> list[Passage]:
    """One passage per catalogue product (none before a catalogue is loaded)."""
    from marketpilot.data.store import DB_FILE, Store

    if not (settings.home_dir / DB_FILE).exists():
        return []
    with Store.open(settings, read_only=True) as store:
        frame = store.query("SELECT * FROM products ORDER BY product_id")
    passages = []
    for row in frame.to_dict("records"):
        parts = [str(row["name"])]
        labels = (
            ("类目", "价格", "库存", "品牌", "描述", "属性")
            if lang == "zh"
            else ("category", "price", "stock", "brand", "description", "attributes")
        )
        attributes = row.get("attributes")
        if isinstance(attributes, str) and attributes.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):  # not JSON after all: shown as written
                attributes = "，".join(
                    f"{k}：{_attribute(v)}" for k, v in json.loads(attributes).items() if _present(v)
                )
        values = (
            row.get("category"),
            money_text(row.get("price_minor"), row.get("currency"), lang),
            row.get("stock"),
            row.get("brand"),
            row.get("description"),
            attributes,
        )
        parts += [f"{label}：{value}" for label, value in zip(labels, values, strict=True) if _present(value)]
        passages.append(
            Passage(
                id=f"product:{row['product_id']}",
                kind="product",
                title=str(row["name"]),
                text=("；" if lang == "zh" else "; ").join(parts),
            )
        )
    return passages


def _present(value: object) -> bool:
    return value is not None and value != "" and not (isinstance(value, float) and np.isnan(value))


def _attribute(value: object) -> str:
    """An attribute value as a customer reads it: 尺码 ["S", "M"] is "S/M", not Python's "['S', 'M']"."""
    if isinstance(value, list):
        return "/".join(str(v) for v in value if _present(v))
    return str(value)


class KnowledgeBase:
    """Policies and products with their e5 embeddings (cached per text, so a rebuild is cheap; the
    first build embeds every product, ~15 a second on 2 cores: `marketpilot assistant index` shows
    the progress)."""

    def __init__(
        self,
        passages: list[Passage],
        settings: Settings,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.passages = passages
        # Product ids look like order numbers (P000001): the order rules must tell them apart.
        self.product_ids = frozenset(p.id.split(":", 1)[1] for p in passages if p.kind == "product")
        texts = [f"{p.title}。{p.text}" for p in passages]
        self.terms = [_terms(text) for text in texts]  # for the lexical part of the ranking
        parts = []
        for start in range(0, len(texts), _CHUNK):
            parts.append(embed(texts[start : start + _CHUNK], kind="passage", settings=settings))
            if on_progress is not None:
                on_progress(min(start + _CHUNK, len(texts)), len(texts))
        self.vectors = np.vstack(parts) if parts else np.zeros((0, 384), dtype=np.float32)

    @classmethod
    def build(
        cls, settings: Settings, lang: Lang, on_progress: Callable[[int, int], None] | None = None
    ) -> KnowledgeBase:
        return cls(policy_passages(settings, lang) + product_passages(settings, lang), settings, on_progress)

    def search(self, question: str, settings: Settings, k: int = 5) -> list[tuple[Passage, float]]:
        """The k passages closest to the question, best first; a product named verbatim in the
        question comes first whatever its similarity (names are what customers paste)."""
        if not self.passages:
            return []
        scores = self.vectors @ embed([question], kind="query", settings=settings)[0]
        named = [i for i, p in enumerate(self.passages) if p.kind == "product" and _names(p, question)]
        ranked = scores + LEXICAL_WEIGHT * self._shared_terms(question)
        order = named + [int(i) for i in np.argsort(-ranked, kind="stable") if int(i) not in named]
        return [(self.passages[i], float(scores[i])) for i in order[:k]]

    def _shared_terms(self, question: str) -> np.ndarray:
        """Per passage, the share of the question's terms it contains. e5 cosines of a short question
        sit within a few hundredths of each other: "退货运费谁出？" ranked the shipping-fee policy
        above the two returns policies that say who pays, which the small model then never read."""
        wanted = _terms(question)
        if not wanted:
            return np.zeros(len(self.passages))
        return np.array([len(wanted & terms) / len(wanted) for terms in self.terms])


def _terms(text: str) -> set[str]:
    """Chinese character pairs and Latin words (lower case, no stop words) of a text."""
    text = text.lower()
    pairs = {
        a + b
        for run in _CJK_RUN.findall(text)
        for a, b in itertools.pairwise(run)
        if a not in _FUNCTION_CHARS and b not in _FUNCTION_CHARS
    }
    return pairs | {w for w in _WORD.findall(text) if w not in _STOP_WORDS}


def _names(passage: Passage, question: str) -> bool:
    """The question names this product: its id as a whole token (P000001 is not inside P0000010),
    or its full title."""
    product_id = re.escape(passage.id.split(":", 1)[1])
    if re.search(rf"(?<![A-Za-z0-9_-]){product_id}(?![A-Za-z0-9_-])", question):
        return True
    return len(passage.title) >= 4 and passage.title in question
