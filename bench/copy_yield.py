"""Copy yield with the embedded model: of the variants a brief asks for, how many the user gets.

Run: .venv/bin/python bench/copy_yield.py [--home DIR] [--n 3] [--seed 11] [--json-out FILE]

The demo's sample shop (demo.SHOP_CUSTOMERS customers, demo.SHOP_SEED), generated once under --home,
gives the products: the first product of each of three categories; the briefs (--briefs, 4 of 8 by
default) put them in zh on sms, push and email_subject and in en on sms and push, the first and third
product with a 20 % discount and a deadline, the second plain. Per brief it prints the variants
asked for, the first drafts that pass every guardrail unrepaired, the variants kept after repair,
clause cuts and top-up, and the first drafts' failures by rule with an example each. Fixed seed: the
completion cache makes a rerun free, and a prompt whose version changed is asked afresh.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from marketpilot.config import get_settings
from marketpilot.content.briefs import Offer
from marketpilot.content.channels import channel_specs
from marketpilot.content.generate import (
    DraftSet,
    generate_variants,
    review_text,
    variants_request,
)
from marketpilot.content.guardrails import check_copy
from marketpilot.content.service import BriefExtras, brief_for
from marketpilot.data import Store
from marketpilot.demo import SHOP_CUSTOMERS, SHOP_SEED
from marketpilot.llm import LLMError, get_client

# The settings generate_variants uses by default (and `copy generate` with them).
TEMPERATURE, TOP_P = 0.9, 0.95
OFFER = BriefExtras(discount=0.2, offer=Offer(deadline="2026-12-12"), shop_name="好物小店")
PLAIN = BriefExtras(shop_name="好物小店")


def sample_products(settings) -> list[str]:
    """The first product (by id) of the first three categories: a fixed, varied set."""
    from marketpilot.data.sample import make_sample

    if not settings.path("samples").exists():
        make_sample(settings, customers=SHOP_CUSTOMERS, seed=SHOP_SEED)
    with Store.open(settings, read_only=True) as store:
        frame = store.query(
            "SELECT min(product_id) AS pid FROM products GROUP BY category ORDER BY category LIMIT 3"
        )
    return [str(p) for p in frame["pid"]]


def make_briefs(settings, count: int) -> list:
    p1, p2, p3 = sample_products(settings)
    plan = [(p1, "sms", "zh", OFFER), (p1, "push", "zh", OFFER), (p2, "sms", "zh", PLAIN)]
    plan += [(p1, "sms", "en", OFFER), (p2, "push", "zh", PLAIN), (p3, "email_subject", "zh", OFFER)]
    plan += [(p2, "email_subject", "zh", PLAIN), (p2, "push", "en", PLAIN)]
    return [brief_for(settings, pid, "all", ch, lang, extras) for pid, ch, lang, extras in plan[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/marketpilot-copy-yield"))
    parser.add_argument("--n", type=int, default=3)
    # ~100 s a call on a loaded 2-core machine: 4 briefs take ~15 min, all 8 twice that
    parser.add_argument("--briefs", type=int, default=4, choices=range(1, 9))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    settings = get_settings(args.home)
    briefs = make_briefs(settings, args.briefs)
    specs = channel_specs()
    client = get_client(settings)
    began = time.perf_counter()

    # The first call per brief, checked on its own; generate_variants below gets it from the cache.
    requests = [
        variants_request(b, args.n, temperature=TEMPERATURE, top_p=TOP_P, seed=args.seed) for b in briefs
    ]
    firsts = client.complete_many(requests)
    first_pass: list[int] = []
    rules: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for brief, result in zip(briefs, firsts, strict=True):
        passed = 0
        if not isinstance(result, LLMError):
            drafts: DraftSet = result.parsed
            for draft in drafts.variants:
                text = review_text(draft.text, brief, specs[brief.channel])
                check = check_copy(text, brief, specs=specs)
                passed += check.ok
                for rule in sorted({v.rule for v in check.violations}):
                    rules[rule] += 1
                    if len(examples[rule]) < 3:
                        found = next(v for v in check.violations if v.rule == rule)
                        examples[rule].append(f"{found.describe()}  in “{text}”")
        first_pass.append(passed)

    sets = generate_variants(briefs, client, n=args.n, seed=args.seed, specs=specs)
    seconds = time.perf_counter() - began

    rows = []
    print(f"{'brief':<42} {'asked':>5} {'1st ok':>6} {'kept':>4} {'repair':>6} {'calls':>5}")
    for brief, s, ok in zip(briefs, sets, first_pass, strict=True):
        repaired = sum(v.repaired for v in s.variants)
        label = f"{brief.product.name[:16]} {brief.channel} {brief.language}"
        print(f"{label:<42} {args.n:>5} {ok:>6} {len(s.variants):>4} {repaired:>6} {s.llm_calls:>5}")
        rows.append(
            {
                "brief": label,
                "asked": args.n,
                "first_pass": ok,
                "kept": len(s.variants),
                "repaired": repaired,
                "calls": s.llm_calls,
                "variants": [v.text for v in s.variants],
                "dropped": [d.model_dump() for d in s.dropped],
            }
        )
    asked = args.n * len(briefs)
    kept = sum(r["kept"] for r in rows)
    print(
        f"\ntotal: asked {asked}, first drafts passing {sum(first_pass)}, kept {kept} "
        f"({kept / asked:.0%}), repaired {sum(r['repaired'] for r in rows)}, "
        f"LLM calls {sum(r['calls'] for r in rows)}, {seconds:.0f} s"
    )
    print("first-draft failures by rule (drafts with at least one violation of it):")
    for rule, count in rules.most_common():
        print(f"  {rule}: {count}")
        for example in examples[rule]:
            print(f"      {example}")
    if args.json_out:
        payload = {"rows": rows, "first_draft_rules": dict(rules), "seconds": round(seconds, 1)}
        args.json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
