"""The campaign page's sample-ratio-mismatch warning states its numbers, as the text report does:
observed and expected customers per arm, χ² and the p-value."""

from __future__ import annotations

import pandas as pd
from campaign_shop import export_spec, launch
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from marketpilot.api import create_app
from marketpilot.campaigns.measure import measure
from marketpilot.campaigns.state.models import Assignment
from marketpilot.config import Settings


def test_the_srm_banner_shows_observed_and_expected_counts_and_p(
    shop_settings: Settings, engine: Engine
) -> None:
    cid, _ = launch(shop_settings, export_spec(audience={}, holdout_share=0.2), campaign_id="srm-ui-0a1b2c")
    client = TestClient(create_app(shop_settings, require_key=False))
    assert "sample ratio mismatch" not in client.get(f"/ui/campaigns/{cid}").text  # as designed: no banner

    with engine.connect() as con:
        rows = con.execute(
            select(Assignment.customer_id, Assignment.arm).where(Assignment.campaign_id == cid)
        )
        assigned = pd.DataFrame(rows.all(), columns=["customer_id", "arm"])
    lost = sorted(assigned.loc[assigned["arm"] == "A", "customer_id"])[::2]  # half of A's rows gone
    with engine.begin() as con:
        con.execute(delete(Assignment).where(Assignment.campaign_id == cid, Assignment.customer_id.in_(lost)))
    srm = measure(engine, cid).srm
    assert srm is not None and srm.mismatch

    page = client.get(f"/ui/campaigns/{cid}")
    assert page.status_code == 200
    banner = " ".join(
        page.text.split("sample ratio mismatch, do not trust the lift", 1)[1].split("</p>")[0].split()
    )
    observed = ", ".join(f"{arm} {n:,}" for arm, n in srm.observed.items())
    expected = ", ".join(f"{arm} {srm.expected[arm]:,.0f}" for arm in srm.observed)
    assert f"实际 observed {observed}; 按设计应为 expected {expected}" in banner
    assert f"χ² = {srm.chi2:.1f}, p = {srm.p_value:.2g}" in banner
    assert set(srm.observed) == {"holdout", "A", "B"}
