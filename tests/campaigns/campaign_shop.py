"""A small shop for campaign tests: customers, contact details and intel outputs in a home."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketpilot.config import Settings
from marketpilot.data.store import Store

SURNAMES = np.array(list("王李张刘陈杨黄赵吴周"))
GIVEN = np.array(["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军"])
SEGMENTS = np.array(["高价值", "沉睡客户", "新客"])


def build_shop(settings: Settings, n: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Write n customers (with PII in the private table) and intel's segment/propensity/rfm tables."""
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"C{i:06d}" for i in range(n)])
    has_email = rng.random(n) < 0.8
    has_phone = rng.random(n) < 0.7
    names = pd.Series(SURNAMES[rng.integers(0, 10, n)]) + pd.Series(GIVEN[rng.integers(0, 10, n)])
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", pd.DataFrame({"customer_id": ids, "city": "上海"}))
        store.upsert(
            "customer_pii",
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "name": names,
                    "email": np.where(has_email, ids.str.lower() + "@example.cn", None),
                    "phone": np.where(has_phone, "138" + ids.str[-6:].str.zfill(8), None),
                }
            ),
        )
    intel = settings.home_dir / "intel"
    intel.mkdir(parents=True, exist_ok=True)
    segment = SEGMENTS[rng.integers(0, 3, n)]
    pd.DataFrame({"customer_id": ids, "segment": segment}).to_parquet(intel / "segments.parquet")
    pd.DataFrame({"customer_id": ids, "propensity": rng.beta(2, 8, n)}).to_parquet(
        intel / "propensity.parquet"
    )
    pd.DataFrame(
        {
            "customer_id": ids,
            "rfm_class": np.where(segment == "沉睡客户", "at_risk", "loyal"),
            "recency_days": rng.integers(1, 400, n),
        }
    ).to_parquet(intel / "rfm.parquet")
    return pd.DataFrame(
        {"customer_id": ids, "segment": segment, "has_email": has_email, "has_phone": has_phone}
    )
