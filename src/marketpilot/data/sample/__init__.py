"""A seeded, realistic Chinese shop for demos, tests and benchmarks.

`generate_shop(out_dir, customers=N, seed=S)` writes one Parquet file per canonical table;
`load_shop(store, paths)` loads them. See docs/sample-data.md.
"""

from marketpilot.data.sample.generate import (
    default_products,
    generate_shop,
    shop_paths,
    truth_paths,
)
from marketpilot.data.sample.load import load_shop

__all__ = ["default_products", "generate_shop", "load_shop", "shop_paths", "truth_paths"]
