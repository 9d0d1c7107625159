"""Keywords (jieba TF-IDF / TextRank for Chinese, a stop-worded tokenizer for English) and clusters of
similar complaints (embeddings + k-means)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

import numpy as np
from pydantic import BaseModel
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Words every review uses: they carry no information about this product.
_ZH_STOP = set(
    [
        "东西",
        "商品",
        "宝贝",
        "感觉",
        "觉得",
        "还是",
        "就是",
        "一个",
        "没有",
        "非常",
        "真的",
        "可以",
        "这个",
        "比较",
        "有点",
        "买",
        "的",
        "了",
        "很",
        "也",
        "都",
        "还",
        "我",
        "是",
        "不",
        "在",
        "就",
    ]
)
_EN_TOKEN = re.compile(r"[a-z][a-z']+")
_EN_STOP = set(ENGLISH_STOP_WORDS) | {
    "it's",
    "i'm",
    "don't",
    "product",
    "item",
    "bought",
    "buy",
    "just",
    "really",
}


def keywords(
    texts: list[str], lang: Literal["zh", "en"], top_k: int = 15, method: str = "tfidf"
) -> list[str]:
    """The `top_k` most characteristic words of these reviews."""
    blob = "\n".join(texts)
    if lang == "zh":
        import jieba.analyse

        jieba.setLogLevel(60)  # its "Building prefix dict …" lines are noise on the user's terminal
        extract = jieba.analyse.textrank if method == "textrank" else jieba.analyse.extract_tags
        words = extract(blob, topK=top_k * 2)
        # jieba keeps runs of punctuation ("--", "!!") as words; a keyword needs a letter or a hanzi
        return [w for w in words if w not in _ZH_STOP and any(c.isalpha() for c in w)][:top_k]
    counts = Counter(t for t in _EN_TOKEN.findall(blob.lower()) if t not in _EN_STOP)
    return [w for w, _ in counts.most_common(top_k)]


class ComplaintCluster(BaseModel):
    """A group of similar negative reviews: its size, its words, and the reviews nearest its centre."""

    size: int
    keywords: list[str]
    review_ids: list[str]
    examples: list[str]


def cluster_complaints(
    review_ids: list[str],
    texts: list[str],
    lang: Literal["zh", "en"],
    *,
    max_clusters: int = 5,
    examples: int = 3,
    seed: int = 0,
) -> list[ComplaintCluster]:
    """k-means over e5 embeddings of the complaints; k grows with the number of complaints."""
    if len(texts) < 4:
        return []
    from marketpilot.embed import embed

    vectors = embed(texts, kind="query")
    # No more clusters than distinct complaints: k-means left the extra ones empty (size 0, no words)
    # when a shop's complaints were copies of one another.
    k = int(min(max_clusters, max(2, len(texts) // 8), len(set(texts))))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vectors)
    ids, docs = np.asarray(review_ids, dtype=object), np.asarray(texts, dtype=object)
    clusters = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        order = members[np.argsort(-(vectors[members] @ km.cluster_centers_[c]))]
        clusters.append(
            ComplaintCluster(
                size=len(members),
                keywords=keywords(docs[members].tolist(), lang, top_k=5),
                review_ids=[str(i) for i in ids[order]],
                examples=[str(t) for t in docs[order[:examples]]],
            )
        )
    return sorted(clusters, key=lambda c: -c.size)
