"""Figures of the generated shop (tests/analytics/conftest.py's `shop_settings`) worked out apart from
the code under test."""

from __future__ import annotations

from marketpilot.config import Settings
from marketpilot.data import Store


def generated_shop_buyers(settings: Settings, until: str = "9999-12-31") -> int:
    """The generated shop's buyers under the purchase rule, worked out apart from it: the generator
    names each reversal after its sale (O… sold, C… cancelled, R… returned), and a buyer has a sale,
    placed on or before `until`, that its reversals by then did not wholly undo."""
    with Store.open(settings, read_only=True) as store:
        return int(
            store.query(
                """WITH o AS (SELECT order_id, customer_id, total_minor, substr(order_id, 2) AS sale
                              FROM orders WHERE CAST(ordered_at AS DATE) <= CAST(? AS DATE)),
                        undone AS (SELECT sale, sum(total_minor) AS minor FROM o
                                   WHERE NOT starts_with(order_id, 'O') GROUP BY sale)
                   SELECT count(DISTINCT o.customer_id) AS n FROM o JOIN customers c USING (customer_id)
                   LEFT JOIN undone USING (sale)
                   WHERE starts_with(o.order_id, 'O') AND NOT c.is_guest
                     AND o.total_minor + coalesce(undone.minor, 0) > 0""",
                [until],
            )["n"][0]
        )
