"""Competitor listings to catalogue products by title, for competitor files without our product ids.

Candidates come from character 2–4-gram TF-IDF cosine over normalised titles (NFKC, lower case, shop
tags in 【】 or [] removed), which works the same for Chinese and English and shrugs off word order and
marketplace words ("包邮", "free delivery"). Product variants are what a title matcher gets wrong — the
red and the pink clock, the 250 g and the 500 g bag — so the candidate is the nearest of the
`CANDIDATES` nearest names of the title's own variant (the same numbers, colour words 黑色/red and
sizes XL), and it is `matched` only when:

- its cosine is at least `min_score` and ahead of the next candidate of that variant by `min_gap`;
- it is not a substitution: the title and the candidate do not *both* hold a word of the catalogue's
  vocabulary that the other lacks (an owl design against a bird design).

Brands: a competitor sells other brands' equivalents of our products ("小米 快充数据线 1米" against our
"智行 快充数据线 1米"), which a title matcher calls the same product. Where the catalogue has a `brand`
column, a listing's brand (its own brand field, else the catalogue brands its title names) limits
the candidates to products of that brand or of none; a listing whose brand the catalogue does not
sell is `unmatched`, and one whose title names no brand goes to review when its candidate has one.
Brands compare by any alias ("Huawei/华为" is both) or by the brand appearing in the other's title.

When no near name is of the title's variant, or a check fails, the nearest is kept for a person as
`review`, with the reason; a title far from every name is `unmatched` (cosine under `review_score`).
Only matched rows enter the price positioning.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

Status = Literal["matched", "review", "unmatched"]
CANDIDATES = 5  # the nearest titles looked at for one of the same variant
_TAGS = re.compile(r"【[^】]*】|\[[^\]]*\]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_EN_WORD = re.compile(r"[a-z]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ZH_COLOUR = re.compile(r"(卡其|咖啡|酒红|藏青|天蓝|玫红|香槟|[黑白红蓝绿灰粉紫黄橙金银棕米青褐])色")
# Shops name colours without 色 (曜石黑, 远峰蓝, 玫瑰金): a descriptive prefix before a base colour, read
# as that base colour, so 曜石黑 and 黑色 are the same variant. The prefixes are ones that never make
# another word with the colour character (奶粉, 米粉, 口红, 蛋白 are not colours).
_ZH_NAMED_COLOUR = re.compile(
    r"(?:深|浅|亮|暗|纯|哑光|磨砂|午夜|曜石|幻夜|星空|陶瓷|珍珠|象牙|星光|月光|冰川|远峰|海军|宝石|天空|雾霾|"
    r"深海|松岭|暗夜|薄荷|橄榄|深空|太空|银河|石墨|玫瑰|土豪|流光|樱花|少女|珊瑚|梦幻|薰衣草|柠檬)"
    r"([黑白红蓝绿灰紫黄金银])(?!色)|(?:奶|米)(白)(?!色)|米(黄)(?!色)"  # not 奶黄 (custard)
)
# A colour character standing alone between separators: "手机壳 黑 128g", "T恤/白/XL".
_ZH_BARE_COLOUR = re.compile(r"(?:^|(?<=[\s/,，、|+]))([黑白红蓝绿灰粉紫黄金银])(?=$|[\s/,，、|+])")
# Single letters (s, m, l) are left out: "men's" and "5m" hold them as often as a size does.
# fmt: off
_EN_MARKS = frozenset({
    "red", "pink", "blue", "green", "black", "white", "ivory", "cream", "yellow", "orange", "purple",
    "gold", "silver", "grey", "gray", "brown", "beige", "navy", "khaki", "xs", "xl", "xxl", "xxxl",
})
# fmt: on


# fmt: off
_ZH_FUNCTION_WORDS = frozenset({
    "的", "和", "与", "及", "款", "装", "个", "只", "件", "套", "送", "买",
    "新款", "正品", "包邮", "官方", "旗舰店", "热卖", "爆款",
})
# fmt: on
# Brand cells that name no brand.
_NO_BRAND = frozenset(
    {"", "无", "无品牌", "其他", "其它", "none", "n/a", "na", "other", "generic", "-", "—", "nan"}
)
_BRAND_SEP = re.compile(r"[/|｜、,，;；()（）]+")


def normalise(title: str) -> str:
    return _TAGS.sub(" ", unicodedata.normalize("NFKC", str(title)).lower()).strip()


def _words(text: str) -> set[str]:
    """Words of a normalised title: jieba for Chinese runs, letters and digits for the rest."""
    if _CJK.search(text):
        import jieba

        jieba.setLogLevel(60)  # its "Building prefix dict …" lines are noise on the user's terminal
        return {w.strip() for w in jieba.lcut(text) if w.strip() and not w.isspace()}
    return set(re.findall(r"[a-z]+|\d+(?:\.\d+)?", text))


def variant_marks(text: str) -> frozenset[str]:
    """What tells product variants apart: numbers, colour words, letter sizes."""
    marks = set(_NUMBER.findall(text))
    marks |= set(_ZH_COLOUR.findall(text))
    marks |= {next(g for g in m.groups() if g) for m in _ZH_NAMED_COLOUR.finditer(text)}
    marks |= set(_ZH_BARE_COLOUR.findall(text))
    marks |= set(_EN_WORD.findall(text)) & _EN_MARKS
    return frozenset(marks)


def brand_aliases(brand: object) -> frozenset[str]:
    """The names one brand cell gives ("Huawei/华为" → huawei, 华为); empty for no brand."""
    if brand is None or (not isinstance(brand, str) and pd.isna(brand)):
        return frozenset()
    text = unicodedata.normalize("NFKC", str(brand)).lower()
    parts = (p.strip() for p in _BRAND_SEP.split(text))
    return frozenset(p for p in parts if p not in _NO_BRAND and (len(p) > 1 or _CJK.match(p)))


class _Brands:
    """The catalogue's brands: each product's brand number (−1: none), and the brands a text names."""

    def __init__(self, brands: pd.Series) -> None:
        cells = [(str(b), brand_aliases(b)) for b in brands]
        # Cells sharing an alias are one brand ("华为", "Huawei/华为" and "HUAWEI"): union-find on aliases.
        parent: dict[str, str] = {}

        def root(a: str) -> str:
            while parent.setdefault(a, a) != a:
                a = parent[a]
            return a

        for _, alias in cells:
            first, *rest = sorted(alias) or [None]
            for other in rest:
                parent[root(other)] = root(first)
            if first is not None:
                root(first)
        number = {r: n for n, r in enumerate(sorted({root(a) for a in parent}))}
        self._number = {a: number[root(a)] for a in parent}
        self.product = np.array(
            [self._number[next(iter(alias))] if alias else -1 for _, alias in cells], dtype=np.int64
        )
        # The candidates a listing of brand n may match: that brand's products and those of none.
        none = np.flatnonzero(self.product < 0)
        order = np.argsort(self.product, kind="stable")
        bounds = np.searchsorted(self.product[order], np.arange(len(number) + 1))
        self._allowed = [np.sort(np.concatenate([order[a:b], none])) for a, b in pairwise(bounds)]
        self.active = bool(len(number))
        self.label: dict[int, str] = {}
        for (cell, _), n in zip(cells, self.product, strict=True):
            self.label.setdefault(int(n), cell)
        # Longest first, so 小米 does not win over 小米有品; Latin aliases as whole words only.
        words = sorted(self._number, key=len, reverse=True)
        alternatives = [
            re.escape(w) if _CJK.search(w) else rf"(?<![a-z0-9]){re.escape(w)}(?![a-z])" for w in words
        ]
        self._pattern = re.compile("|".join(alternatives)) if words else None

    def candidates(self, brands: set[int]) -> np.ndarray:
        return np.unique(np.concatenate([self._allowed[n] for n in brands]))

    def named_in(self, text: str) -> set[int]:
        return {self._number[m.group()] for m in self._pattern.finditer(text)} if self._pattern else set()

    def of(self, aliases: frozenset[str], title: str) -> set[int] | None:
        """Brand numbers of a listing: its own brand's (None when the catalogue does not sell it), or
        with no brand cell the catalogue brands its title names."""
        if not aliases:
            return self.named_in(title)
        found = {self._number[a] for a in aliases if a in self._number}
        found |= {n for a in aliases for n in self.named_in(a)}  # "华为官方" names 华为
        if not found:  # the brand field may be in another script than ours: does the title name ours?
            found = self.named_in(title)
        return found or None


def match_titles(
    titles: pd.Series,
    catalogue: pd.DataFrame,
    *,
    brands: pd.Series | None = None,
    min_score: float = 0.6,
    min_gap: float = 0.03,
    review_score: float = 0.4,
) -> pd.DataFrame:
    """One row per distinct title (per title and brand with `brands`, the listings' brand cells aligned
    with `titles`): `title`, `brand`, `product_id` (set when matched), `candidate_id`, `candidate_name`,
    `score`, `runner_up`, `status`, `reason`. `catalogue` has product_id, name and optionally brand."""
    names = catalogue["name"].fillna("").astype(str).map(normalise).to_numpy()
    ids = catalogue["product_id"].astype(str).to_numpy()
    ours_brands = _Brands(catalogue["brand"] if "brand" in catalogue else pd.Series([None] * len(names)))
    listings = pd.DataFrame(
        {"title": titles.to_numpy(object), "brand": brands.to_numpy(object) if brands is not None else None}
    )
    listings = listings.dropna(subset=["title"]).astype({"title": str})
    listings = listings.drop_duplicates(["title", "brand"]).reset_index(drop=True)
    distinct, cells = listings["title"], listings["brand"].to_numpy()
    shown = distinct.map(normalise).to_numpy()
    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    ours = vectoriser.fit_transform(names).T.tocsc()
    theirs = vectoriser.transform(shown)
    vocabulary = _vocabulary(names)
    # Cosines a block of titles at a time: almost every pair shares some character pair, so the whole
    # titles × catalogue matrix would be dense (10k × 10k: 800 MB).
    block = max(1, 4_000_000 // max(len(names), 1))
    marks = [variant_marks(name) for name in names]
    top = min(CANDIDATES, len(names))
    rows = []
    for i, title in enumerate(shown):
        if i % block == 0:
            scores = (theirs[i : i + block] @ ours).toarray()
        row = scores[i % block]
        cell = cells[i]
        theirs_brand = ours_brands.of(brand_aliases(cell), title) if ours_brands.active else set()
        if theirs_brand is None:
            rows.append(_row(distinct.iloc[i], cell, "unmatched", f"the catalogue sells no {cell}"))
            continue
        if theirs_brand:  # other brands' products are not candidates
            allowed = ours_brands.candidates(theirs_brand)
            row = np.full_like(row, -1.0)
            row[allowed] = scores[i % block][allowed]
        nearest = np.argpartition(-row, top - 1)[:top]
        nearest = nearest[np.lexsort((nearest, -row[nearest]))]  # by cosine, then catalogue order
        nearest = nearest[row[nearest] > -1]
        # The closest candidate of the same variant (colour, size, numbers) as the title, if any is near;
        # its rival is the next one of that variant: the other colours are told apart by the colour.
        wanted = variant_marks(title)
        same = [int(j) for j in nearest if marks[j] == wanted]
        best = same[0] if same else int(nearest[0])
        rivals = same[1:] if same else [int(j) for j in nearest[1:]]
        runner_up = float(row[rivals[0]]) if rivals else 0.0
        status, reason = _judge(title, names[best], float(row[best]), runner_up, vocabulary,
                                marks=(wanted, marks[best]), min_score=min_score, min_gap=min_gap,
                                review_score=review_score)  # fmt: skip
        if status == "matched" and not theirs_brand and ours_brands.product[best] >= 0:
            brand = ours_brands.label[int(ours_brands.product[best])]
            status, reason = "review", f"the title names no brand; the candidate is {brand}'s"
        rows.append(
            {
                "title": distinct.iloc[i],
                "brand": cell,
                "product_id": ids[best] if status == "matched" else None,
                "candidate_id": ids[best] if status != "unmatched" else None,
                "candidate_name": catalogue["name"].iloc[best] if status != "unmatched" else None,
                "score": round(float(row[best]), 4),
                "runner_up": round(runner_up, 4),
                "status": status,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=[*_COLUMNS])


_COLUMNS = ("title", "brand", "product_id", "candidate_id", "candidate_name", "score", "runner_up", "status",
            "reason")  # fmt: skip


def _row(title: str, brand: object, status: Status, reason: str) -> dict[str, object]:
    return dict.fromkeys(_COLUMNS) | {"title": title, "brand": brand, "status": status, "reason": reason,
                                      "score": 0.0, "runner_up": 0.0}  # fmt: skip


def _vocabulary(names: np.ndarray) -> set[str]:
    """Words of the catalogue that name something: not function words, and in at most 5 % of its names
    (so not 'set' or '套装')."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    counts: dict[str, int] = {}
    for name in names:
        for word in _words(name):
            counts[word] = counts.get(word, 0) + 1
    limit = max(2, 0.05 * len(names))
    return {
        w
        for w, n in counts.items()
        if n <= limit and len(w) > 1 and w not in ENGLISH_STOP_WORDS and w not in _ZH_FUNCTION_WORDS
    }


def _judge(
    title: str,
    candidate: str,
    score: float,
    runner_up: float,
    vocabulary: set[str],
    *,
    marks: tuple[frozenset[str], frozenset[str]],
    min_score: float,
    min_gap: float,
    review_score: float,
) -> tuple[Status, str]:
    if score < review_score:
        return "unmatched", f"no catalogue title is close (best cosine {score:.2f})"
    if score < min_score:
        return "review", f"cosine {score:.2f} is under {min_score}"
    if score - runner_up < min_gap:
        return "review", f"another product is as close ({runner_up:.2f})"
    theirs, ours = marks
    if ours != theirs:
        differ = sorted(ours ^ theirs)
        return "review", f"a variant of it? numbers, colours or sizes differ: {', '.join(differ)}"
    words_ours, words_theirs = _words(candidate) & vocabulary, _words(title) & vocabulary
    if words_ours - words_theirs and words_theirs - words_ours:
        only = sorted(words_ours - words_theirs)[:3] + sorted(words_theirs - words_ours)[:3]
        return "review", f"words differ: {', '.join(only)}"
    return "matched", ""
