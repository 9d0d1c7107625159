"""Evaluation on AdvertiseGen (product attributes → Chinese ad copy).

Metrics: BLEU-4 (sacrebleu, tokenize="zh", multi-reference), ROUGE-L F (rouge-chinese on jieba words,
best reference), attribute coverage (share of the input's values the copy mentions), hallucinated
attribute values (values of the same attribute keys that the copy states but the input does not, e.g.
蓝色 for a 红色 dress), and distinct-2 (unique character bigrams / all bigrams, across outputs).
The same metrics on the human references are reported alongside as a yardstick.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from marketpilot.atomic import atomic_path
from marketpilot.errors import MissingExtraError, UserError
from marketpilot.llm import LLMClient, LLMError, LLMRequest, load_prompt

# Keys whose values describe the product itself; a different value of one of these is a factual error.
FACT_KEYS = (
    "颜色",
    "材质",
    "图案",
    "类型",
    "版型",
    "衣样式",
    "裙型",
    "裙长",
    "裤长",
    "裤型",
    "衣长",
    "袖长",
    "领型",
    "袖型",
)


class AdGenItem(BaseModel):
    content: str
    attributes: list[tuple[str, str]]
    references: list[str]


class AdGenScores(BaseModel):
    n: int
    bleu4: float | None
    rouge_l: float | None
    attribute_coverage: float
    hallucination_rate: float  # share of texts stating at least one value not in the input
    hallucinated_per_text: float
    distinct2: float
    n_multi_reference: int | None = None  # references only: items BLEU/ROUGE were computed on


class AdGenReport(BaseModel):
    model: str
    generated: AdGenScores
    references: AdGenScores  # the first human reference scored against the others, for scale
    failed: int
    generated_now: int
    seconds: float
    out: str | None = None


def parse_attributes(content: str) -> list[tuple[str, str]]:
    """ "类型#裙*颜色#红色*图案#刺绣" → [("类型", "裙"), ("颜色", "红色"), ("图案", "刺绣")]."""
    pairs = []
    for part in content.split("*"):
        key, sep, value = part.partition("#")
        if sep and key.strip() and value.strip():
            pairs.append((key.strip(), value.strip()))
    return pairs


def load_advertisegen(path: Path | str, limit: int | None = None) -> list[AdGenItem]:
    """Distinct inputs with all their reference copies, in file order."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"AdvertiseGen file not found: {path}", hint="Use data/advertisegen/dev_half.jsonl.")
    refs: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                content, summary = row["content"], row["summary"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(f"{path}:{line_no}: expected {{'content': …, 'summary': …}} ({exc})") from exc
            refs[content].append(summary)
    items = [AdGenItem(content=c, attributes=parse_attributes(c), references=r) for c, r in refs.items()]
    return items[:limit] if limit else items


def _value_forms(value: str) -> tuple[str, ...]:
    # copy writes 红色 as 红 (红裙) and 浅蓝色 as 浅蓝
    if value.endswith("色") and len(value) >= 2:
        return (value, value[:-1])
    return (value,)


def coverage(text: str, attributes: Sequence[tuple[str, str]]) -> float:
    values = {v for _, v in attributes}
    if not values:
        return 1.0
    return sum(any(f in text for f in _value_forms(v)) for v in values) / len(values)


def attribute_vocabulary(items: Iterable[AdGenItem]) -> dict[str, set[str]]:
    vocab: dict[str, set[str]] = defaultdict(set)
    for item in items:
        for key, value in item.attributes:
            if key in FACT_KEYS and len(value) >= 2:
                vocab[key].add(value)
    return vocab


def hallucinated_values(
    text: str, attributes: Sequence[tuple[str, str]], vocab: dict[str, set[str]]
) -> list[str]:
    """Values of the input's fact keys that the text states although the input does not give them."""
    given = {v for _, v in attributes}
    keys = {k for k, _ in attributes if k in FACT_KEYS}
    found = []
    for key in keys:
        for value in sorted(vocab.get(key, ()), key=len, reverse=True):
            if value in given or any(value in g or g in value for g in given):
                continue  # 白色 vs 纯白色: the same fact written differently
            if value in text:
                found.append(value)
    return sorted(set(found))


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    grams = [t[i : i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _rouge_l(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    try:
        import jieba
        from rouge_chinese import Rouge
    except ImportError as exc:  # rouge-chinese is a dev extra
        raise MissingExtraError("rouge-chinese", "dev") from exc
    jieba.setLogLevel(60)
    rouge = Rouge()
    total = 0.0
    for hyp, options in zip(hyps, refs, strict=True):
        words = " ".join(jieba.cut(hyp)) or "_"
        best = 0.0
        for ref in options:
            scores = rouge.get_scores(words, " ".join(jieba.cut(ref)) or "_")
            best = max(best, scores[0]["rouge-l"]["f"])
        total += best
    return 100 * total / len(hyps) if hyps else 0.0


def _bleu4(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> float:
    try:
        import sacrebleu
    except ImportError as exc:
        raise MissingExtraError("sacrebleu", "dev") from exc
    width = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
    return float(sacrebleu.corpus_bleu(list(hyps), streams, tokenize="zh").score)


def score(
    hyps: Sequence[str],
    items: Sequence[AdGenItem],
    vocab: dict[str, set[str]],
    refs: Sequence[Sequence[str]] | None = None,
) -> AdGenScores:
    """All metrics for `hyps[i]` written for `items[i]` (refs default to the items' references)."""
    refs = refs if refs is not None else [it.references for it in items]
    halluc = [hallucinated_values(h, it.attributes, vocab) for h, it in zip(hyps, items, strict=True)]
    n = len(hyps)
    return AdGenScores(
        n=n,
        bleu4=round(_bleu4(hyps, refs), 2),
        rouge_l=round(_rouge_l(hyps, refs), 2),
        attribute_coverage=round(
            sum(coverage(h, it.attributes) for h, it in zip(hyps, items, strict=True)) / n, 4
        ),
        hallucination_rate=round(sum(bool(h) for h in halluc) / n, 4),
        hallucinated_per_text=round(sum(len(h) for h in halluc) / n, 4),
        distinct2=round(distinct_n(hyps), 4),
    )


def reference_scores(items: Sequence[AdGenItem], vocab: dict[str, set[str]]) -> AdGenScores:
    """The human copy on the same metrics, as a yardstick: coverage, hallucination and distinct-2 of the
    first reference of every item; BLEU/ROUGE of the first reference against the others, over the items
    that have more than one (None when none has)."""
    hyps = [it.references[0] for it in items]
    scores = score(hyps, items, vocab, [it.references for it in items])
    multi = [it for it in items if len(it.references) > 1]
    if not multi:
        return scores.model_copy(update={"bleu4": None, "rouge_l": None})
    cross = score([it.references[0] for it in multi], multi, vocab, [it.references[1:] for it in multi])
    return scores.model_copy(
        update={"bleu4": cross.bleu4, "rouge_l": cross.rouge_l, "n_multi_reference": len(multi)}
    )


def adgen_request(item: AdGenItem, *, max_tokens: int = 220) -> LLMRequest:
    prompt = load_prompt("copy_adgen", "zh")
    messages = prompt.render(attributes=item.attributes)
    # Greedy decoding with a fixed seed: an evaluation must be repeatable.
    return LLMRequest(
        messages=messages, temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0, prompt=prompt.ref
    )


def evaluate_advertisegen(
    path: Path | str,
    client: LLMClient,
    *,
    limit: int | None = 100,
    out: Path | str | None = None,
    concurrency: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    resume: bool = False,
) -> AdGenReport:
    """Generate one copy per distinct input, write them to `out` (JSONL), and score them.
    `seconds` is generation time for the inputs generated in this call (`generated_now`)."""
    all_items = load_advertisegen(path)
    items = all_items[:limit] if limit else all_items
    vocab = attribute_vocabulary(all_items)
    started = time.perf_counter()
    done = [0]

    def progress(index: int, result: object) -> None:
        done[0] += 1
        if on_progress:
            on_progress(done[0], len(items))

    # A long run can be resumed: copy already in `out` for the same input is kept, not regenerated.
    previous = _read_previous(Path(out)) if resume and out is not None else {}
    todo = [it for it in items if not previous.get(it.content)]
    results = client.complete_many(
        [adgen_request(it) for it in todo], concurrency=concurrency, on_result=progress
    )
    seconds = time.perf_counter() - started
    fresh = {
        it.content: "" if isinstance(r, LLMError) else r.text.strip()
        for it, r in zip(todo, results, strict=True)
    }
    hyps = [previous.get(it.content) or fresh[it.content] for it in items]
    failed = sum(isinstance(r, LLMError) for r in results)
    ok = [(h, it) for h, it in zip(hyps, items, strict=True) if h]
    if not ok:
        raise UserError(f"The model produced no copy for {len(items)} inputs ({failed} failed).")
    if out is not None:
        _write_jsonl(Path(out), items, hyps, vocab)
    good_hyps, good_items = [h for h, _ in ok], [it for _, it in ok]
    return AdGenReport(
        model=getattr(client, "model", "?"),
        generated=score(good_hyps, good_items, vocab),
        references=reference_scores(good_items, vocab),
        failed=failed,
        generated_now=len(todo),
        seconds=round(seconds, 1),
        out=str(out) if out else None,
    )


def _read_previous(out: Path) -> dict[str, str]:
    if not out.is_file():
        return {}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["content"]: row["generated"] for row in rows if row.get("generated")}


def _write_jsonl(
    out: Path, items: Sequence[AdGenItem], hyps: Sequence[str], vocab: dict[str, set[str]]
) -> None:
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for item, hyp in zip(items, hyps, strict=True):
            row = {
                "content": item.content,
                "generated": hyp,
                "coverage": round(coverage(hyp, item.attributes), 3),
                "hallucinated": hallucinated_values(hyp, item.attributes, vocab),
                "references": item.references,
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
