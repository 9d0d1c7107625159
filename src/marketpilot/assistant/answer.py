"""Answer a customer's question from the shop's own sources, or hand it to a person.

A question goes to a person, with the reason, without asking the model when the customer asks for
one, when it is a complaint or dispute, when it names an order that is not theirs, or when nothing in
the policies and catalogue comes close; and after asking when the model says the sources do not
answer it, cites nothing it was given, states a figure none of its cited sources has, says an order
is in a status its record contradicts ("已发货" of a cancelled order), names a product or model no
source has ("小米手环9" from a catalogue of 小米手环8), promises a service no policy offers ("支持货到
付款") or on terms no source gives it ("30天无理由退货" from a 7-day policy, "全场包邮" from 满99包邮),
has a sentence its cited sources do not hold ("运费由店铺承担" citing the shipping-fee policy:
support.py), or fails.
Every hand-off is appended to `<home>/assistant/handoffs.jsonl` for the service team's queue.
The question is PII-masked before retrieval and the model, and so is the answer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from marketpilot.assistant.claims import numbered_words, unsupported_products, unsupported_promises
from marketpilot.assistant.knowledge import KnowledgeBase, Lang, Passage, policy_file
from marketpilot.assistant.order_status import unsupported_statuses
from marketpilot.assistant.orders import named_orders, order_passages
from marketpilot.assistant.support import unsupported_sentences
from marketpilot.assistant.terms import unsupported_terms
from marketpilot.config import Settings
from marketpilot.content.numbers import cn_counted_numbers
from marketpilot.errors import UserError
from marketpilot.privacy.pii import mask_pii

# e5 cosine of a question and its best passage. Only a floor for the clearly unrelated ("who won the
# football game" 0.72): on the sample shop on-topic questions score 0.79–0.93 and off-topic ones
# 0.72–0.86, so the model's own can_answer is the real gate (docs/assistant.md).
MIN_SIMILARITY = 0.78
_ASKS_FOR_PERSON = re.compile(
    r"转人工|找人工|要人工|接人工|人工服务|真人|"
    r"\b(?:talk|speak|chat) (?:to|with) (?:a |an )?(?:human|person|agent|someone)|\b(?:human|live) agent\b|"
    r"\breal person\b|\brepresentative\b",
    re.I,
)
_DISPUTE = re.compile(
    r"投诉|12315|消协|律师|起诉|曝光|举报|\b(?:complain|complaint|lawyer|sue|chargeback|dispute)\b", re.I
)
# The longest question or earlier turn read (the API's limit too): longer is pasted text, not a question,
# and with sources it would overflow the embedded model's 4,096-token context.
MAX_QUESTION = 2000
# A question about the customer's own orders, not about a policy that applies to any order.
_ABOUT_ORDERS = re.compile(
    # not 我买的/bought alone: "我买的裙子能退吗" is the returns-policy question the order exists for
    r"订单|下单|物流|快递|包裹|到哪|发货了|收到货|签收了|单号"
    r"|\bmy (?:\w+ )?(?:order|parcel|package|delivery)\b"
    r"|\b(?:the|this|that) (?:order|parcel|package)\b"
    r"|\border (?:number|status)\b|\btracking\b|\bwhere is\b"
    r"|\b(?:has|have|did) (?:it|they|my \w+) (?:ship|arrive)",
    re.I,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Source(BaseModel):
    id: str
    kind: str
    title: str


class AssistantReply(BaseModel):
    question: str = Field(description="the question as the model saw it (PII masked)")
    lang: Lang
    answer: str | None = Field(description="the grounded answer; None when handed off")
    citations: list[Source] = Field(default_factory=list)
    handoff: bool
    handoff_reason: str | None = None
    retrieved: list[Source] = Field(default_factory=list, description="what the model was shown")


class Handoff(BaseModel):
    """One line of the service team's queue, `<home>/assistant/handoffs.jsonl`."""

    at: str
    customer_id: str | None = None
    question: str
    reason: str
    detail: str | None = None


class Turn(BaseModel):
    """An earlier exchange of the same conversation: what the customer asked, what was answered
    (None when it went to a person)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field ("content") is refused, not dropped

    question: str = Field(max_length=MAX_QUESTION)
    answer: str | None = Field(default=None, max_length=4000)


# Earlier turns shown to the model and used to find sources: enough for "那运费呢？" and "它呢？".
HISTORY_TURNS = 3


class _Draft(BaseModel):
    """What the model fills in."""

    can_answer: bool = Field(description="false when the sources do not contain the answer")
    answer: str
    citations: list[str] = Field(default_factory=list, description="ids of the sources the answer rests on")


_REASONS = {
    "person": ("顾客要求人工客服", "the customer asked for a person"),
    "dispute": ("投诉或纠纷，需要人工处理", "a complaint or dispute: a person should handle it"),
    "foreign_order": ("问题里的订单号不属于这位顾客", "the order number is not on this customer's account"),
    "anonymous_order": ("查询订单需要先登录", "order questions need a signed-in customer"),
    "no_match": ("店铺政策和商品信息里没有相关内容", "nothing in the policies or catalogue matches"),
    "cannot_answer": ("资料里没有答案", "the sources do not answer it"),
    "no_citation": ("回答没有引用给出的资料", "the answer cites none of the sources it was given"),
    "figure": ("回答里的数字不在引用的资料中", "the answer states a figure its sources do not have"),
    "status": (
        "回答里的订单状态与订单记录不符",
        "the answer states an order status the order record contradicts",
    ),
    "product": (
        "回答里的商品或型号不在资料中",
        "the answer names a product or model its sources do not have",
    ),
    "promise": (
        "回答里的服务承诺没有政策依据",
        "the answer promises a service that no policy or source offers",
    ),
    "terms": (
        "回答里的服务条件（退货天数、包邮门槛、保价天数）与资料不符",
        "the answer promises a service on terms (return days, free-shipping threshold, price-protection days)"
        " that no policy or source gives",
    ),
    "unsupported": (
        "回答的内容在引用的资料中找不到依据",
        "what the answer says is not in the sources it cites",
    ),
    "model_failed": ("模型调用失败", "the assistant's model failed"),
}
_KB_CACHE: dict[tuple[str, str, float, float], KnowledgeBase] = {}
_KB_LOCK = threading.Lock()
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff]")


def knowledge_base(
    settings: Settings, lang: Lang, on_progress: Callable[[int, int], None] | None = None
) -> KnowledgeBase:
    """Built once per home, language, policy file and store version (an API server asks often)."""
    from marketpilot.data.store import DB_FILE

    store = settings.home_dir / DB_FILE
    key = (
        str(settings.home_dir),
        lang,
        policy_file(settings, lang).stat().st_mtime,
        store.stat().st_mtime if store.exists() else 0.0,
    )
    with _KB_LOCK:
        if key not in _KB_CACHE:
            # One home's base per language: a server answering in zh and en in turn keeps both.
            for stale in [k for k in _KB_CACHE if k[0] != key[0] or k[1] == lang]:
                del _KB_CACHE[stale]
            _KB_CACHE[key] = KnowledgeBase.build(settings, lang, on_progress)
        return _KB_CACHE[key]


def answer_question(
    settings: Settings,
    question: str,
    *,
    customer_id: str | None = None,
    lang: Lang | None = None,
    k: int = 5,
    history: list[Turn] | None = None,
) -> AssistantReply:
    """The grounded answer with its citations, or a hand-off with the reason (see the module doc).
    `history`: the conversation so far, oldest first; its last HISTORY_TURNS turns are shown to the
    model (as material, PII-masked) and join the current question to find sources and named orders,
    so a follow-up ("那运费呢？") is read in context. The hand-off rules look at the question alone."""
    from marketpilot.llm import LLMError, RetryPolicy, get_client, load_prompt

    if lang not in (None, "zh", "en"):  # else a pydantic traceback from the reply, after the model ran
        raise UserError(f"lang must be 'zh' or 'en', got {lang!r}.")
    if not _INVISIBLE.sub("", question).strip():  # zero-width characters are no question either
        raise UserError("The question is empty.")
    if len(question) > MAX_QUESTION:
        raise UserError(
            f"The question is {len(question):,} characters long; at most {MAX_QUESTION:,} are read.",
            hint="ask about one thing at a time",
        )
    # Lone surrogates (the bytes of a GBK terminal that are not UTF-8, as Python escapes them in argv
    # and stdin) can be neither embedded, logged nor sent to the model: refused before anything runs.
    # (Turn, a pydantic model, refuses them in the history already.)
    if _SURROGATE.search(question):
        raise UserError(
            "The question is not valid text: it has bytes that are not UTF-8.",
            hint="send UTF-8 text (on a GBK terminal: chcp 65001, or set the terminal's encoding to UTF-8)",
        )
    customer_id = (customer_id or "").strip() or None  # "" from a form or a client is nobody signed in
    lang = lang or ("zh" if _CJK.search(question) else "en")
    masked = mask_pii(question)
    earlier = [
        Turn(question=mask_pii(t.question), answer=mask_pii(t.answer) if t.answer else None)
        for t in (history or [])[-HISTORY_TURNS:]
    ]
    # What retrieval and order lookup read: the last earlier question, then this one.
    context = "\n".join([*(t.question for t in earlier[-1:]), masked])

    def handoff(
        reason: str,
        retrieved: list[Passage] = (),  # type: ignore[assignment]
        detail: str = "",
        *,
        internal: bool = False,
    ) -> AssistantReply:
        """`internal`: the detail is for the team's queue only (a provider error names the LLM
        server's address, which the shop's customers have no business seeing)."""
        text = _REASONS[reason][0 if lang == "zh" else 1]
        full = text + (f": {detail}" if detail else "")
        reply = AssistantReply(
            question=masked,
            lang=lang,
            answer=None,
            handoff=True,
            handoff_reason=text if internal else full,
            retrieved=[_source(p) for p in retrieved],
        )
        _record(settings, reply, customer_id, reason, full)
        return reply

    if _ASKS_FOR_PERSON.search(masked):
        return handoff("person")
    if _DISPUTE.search(masked):
        return handoff("dispute")
    kb = knowledge_base(settings, lang)
    if customer_id is None:
        orders, foreign = [], []
        if named_orders(masked, kb.product_ids):
            return handoff("anonymous_order")
    else:
        orders, foreign = order_passages(settings, customer_id, context, lang, products=kb.product_ids)
    if foreign:
        return handoff("foreign_order")
    hits = kb.search(context, settings, k)
    if not orders and (not hits or hits[0][1] < MIN_SIMILARITY):
        return handoff("no_match", [p for p, _ in hits])
    # The customer's orders lead only when the question is about an order; before a returns-policy
    # question they pushed the policy that answers it down the prompt of a small model.
    found = [p for p, _ in hits]
    passages = (
        orders + found
        if _ABOUT_ORDERS.search(context) or named_orders(context, kb.product_ids)
        else found + orders
    )

    prompt = load_prompt("assistant_answer", lang)
    try:
        # A customer is waiting: one retry, then a person (a batch job's 4 retries with backoff, each up
        # to the timeout, kept a customer of a hung server waiting about 5 minutes for the hand-off).
        retry = RetryPolicy(max_retries=min(settings.llm_max_retries, 1), max_retry_after_s=10)
        completion = get_client(settings, retry=retry).complete(
            prompt.render(question=masked, passages=passages, history=earlier),
            schema=_Draft,
            temperature=0.0,
            max_tokens=400,
            seed=0,
            prompt=prompt.ref,
        )
    except LLMError as exc:
        return handoff("model_failed", passages, str(exc).splitlines()[0], internal=True)
    draft: _Draft = completion.parsed
    cited = [p for p in passages if p.id in draft.citations]
    if not draft.can_answer or not draft.answer.strip():  # an empty answer answers nothing
        return handoff("cannot_answer", passages)
    if not cited:
        return handoff("no_citation", passages)
    text = mask_pii(draft.answer)  # before the figure check: a masked phone number is no claim
    # Names and terms before figures: the 9 of an invented "手环9" is better reported as the name it
    # is, the 30 of "30天无理由退货" as the return window; and the figure check lets a term through
    # whose number the question or another source happens to have.
    catalogue = numbered_words(p.title for p in kb.passages if p.kind == "product")
    if names := unsupported_products(text, passages, catalogue):
        return handoff("product", passages, ", ".join(names))
    policies = [p for p in kb.passages if p.kind == "policy"]
    if promised := unsupported_promises(text, passages, policies):
        return handoff("promise", passages, ", ".join(promised))
    if terms := unsupported_terms(text, passages, policies):
        return handoff("terms", passages, ", ".join(terms))
    cited, unsupported = support_figures(text, cited, passages, masked)
    if unsupported:
        return handoff("figure", passages, ", ".join(unsupported))
    if wrong := unsupported_statuses(text, cited, passages):
        return handoff("status", passages, ", ".join(wrong))
    # Last, so that a claim the checks above name is reported as what it is, not as a dropped sentence.
    # An answer about an order may draw on the policies shown with it (how to track, when it ships).
    grounds = list(cited)
    if any(p.kind == "order" for p in cited):
        grounds += [p for p in passages if p.kind == "policy" and p not in cited]
    _, dropped = unsupported_sentences(text, grounds, masked)
    if dropped:
        # Never sent without it: the sentence dropped may be the "but" that reverses the rest ("签收后
        # 7天内可以无理由退货。但内衣不能退。"), and a person can tell.
        return handoff("unsupported", passages, " ".join(dropped))
    return AssistantReply(
        question=masked,
        lang=lang,
        answer=text,
        citations=[_source(p) for p in cited],
        handoff=False,
        retrieved=[_source(p) for p in passages],
    )


def support_figures(
    answer: str, cited: list[Passage], shown: list[Passage], question: str
) -> tuple[list[Passage], list[str]]:
    """(cited sources plus any shown source that supplies a figure the cited ones lack, figures in the
    answer that no shown source nor the question has). The small model often quotes a second policy
    without citing it ("1 to 3 working days" under the returns policy); the figure is still grounded."""
    cited = list(cited)

    missing = []
    # as written first, then those read from Chinese numerals
    for figure in sorted(_figures(answer), key=lambda f: (f not in answer, answer.find(f), f)):
        if figure in _figures(question) or any(figure in _figures(p.text) for p in cited):
            continue
        source = next((p for p in shown if figure in _figures(p.text)), None)
        if source is None:
            missing.append(figure)
        else:
            cited.append(source)
    return cited, missing


def _figures(text: str) -> set[str]:
    """The numbers of a text, digits or Chinese numerals (七天 is 7 天), in one canonical spelling."""
    found = {_canonical(n) for n in _NUMBER.findall(text)}
    return found | {str(n) for n in cn_counted_numbers(text)}


def _canonical(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number.lstrip("0") or "0"


def _source(passage: Passage) -> Source:
    return Source(id=passage.id, kind=passage.kind, title=passage.title)


def _record(
    settings: Settings, reply: AssistantReply, customer_id: str | None, code: str, detail: str
) -> None:
    """One JSON line per hand-off; appends are whole lines, so readers never see half a record."""
    line = json.dumps(
        {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "customer_id": customer_id,
            "question": reply.question,
            "reason": code,
            "detail": detail,
        },
        ensure_ascii=False,
    )
    with settings.path("assistant", "handoffs.jsonl").open("a+b") as fh:
        # A line torn by a crash mid-write must not swallow this record: start it on a line of its own.
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                line = "\n" + line
        fh.write((line + "\n").encode("utf-8"))  # one write: appends stay whole lines


def handoff_queue(settings: Settings, last: int = 20) -> tuple[list[Handoff], int]:
    """(the `last` hand-offs, oldest first; how many of those lines were unreadable). A line torn by a
    crash or mangled by hand is counted and skipped, so one bad line does not hide the whole queue."""
    path = settings.home_dir / "assistant" / "handoffs.jsonl"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    records, skipped = [], 0
    for line in [line for line in lines if line.strip()][-last:]:
        try:
            records.append(Handoff.model_validate_json(line))
        except ValidationError:
            skipped += 1
    return records, skipped
