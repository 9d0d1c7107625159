"""A seeded, realistic Chinese shop for demos, tests and benchmarks.

`generate_shop(out_dir, customers=N, seed=S)` writes one Parquet file per canonical table;
`load_shop(store, paths)` loads them; `make_sample(settings, ...)` does both under home (the CLI).
See docs/sample-data.md.
"""

from marketpilot.data.sample.generate import (
    default_products,
    generate_shop,
    read_manifest,
    shop_paths,
    truth_paths,
)
from marketpilot.data.sample.load import load_shop
from marketpilot.data.sample.service import SampleResult, make_sample

__all__ = [
    "SampleResult",
    "default_products",
    "generate_shop",
    "load_shop",
    "make_sample",
    "read_manifest",
    "shop_paths",
    "truth_paths",
]
