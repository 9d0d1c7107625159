"""Uplift targeting judged on the Hillstrom e-mail experiment (64,000 customers, randomised, 1/3
holdout): held-out Qini, policy values and scores, through the library and the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.decision_report import recommendation_text
from marketpilot.analytics.uplift import Experiment, fit_experiment, policy_value, qini_summary
from marketpilot.analytics.uplift.metrics import bootstrap_policy_values
from marketpilot.cli import app, run_app
from marketpilot.errors import UserError, ValidationFailed

FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.fixture(scope="module")
def hillstrom_csv(data_dir: Path) -> Path:
    return data_dir / "hillstrom" / "hillstrom.csv.gz"


def _experiment(path: Path, **kw: object) -> Experiment:
    base = {"path": path, "treatment_col": "segment", "control": "No E-Mail", "outcome_col": "visit"}
    return Experiment(**{**base, "features": FEATURES, **kw})  # type: ignore[arg-type]


def test_the_womens_email_uplift_is_found_on_held_out_customers(hillstrom_csv: Path) -> None:
    report = fit_experiment(_experiment(hillstrom_csv))
    assert report.rows == 64_000 and report.held_out == 19_200 and report.binary_outcome
    womens = next(q for q in report.qini if q.arm == "Womens E-Mail")
    # The published visit lift of the women's e-mail is 4.5 points; the held-out third sees it too.
    assert 0.03 < womens.average_uplift < 0.06
    # Ranked by the model, the top 30 % deliver far more than 30 % of the extra visits, and no random
    # order of the same scores does as well.
    assert womens.captured["30%"] > 0.4
    assert womens.p_value < 0.01
    assert womens.uplift_at["30%"] > womens.average_uplift
    # Sending everyone the men's e-mail gets the most visits (18.3 % vs 15.1 % and 10.6 %).
    assert report.policies.best_blanket == "Mens E-Mail"


def test_a_ranking_that_clearly_beats_a_random_sample_is_targeted(
    hillstrom_csv: Path, tmp_path: Path
) -> None:
    # The women's e-mail alone: its effect is concentrated, so its top 30 % by the model get
    # 0.8-0.9 more visits per 100 customers than a random 30 % — well beyond the held-out noise.
    frame = pd.read_csv(hillstrom_csv)
    path = tmp_path / "womens.csv"
    frame[frame["segment"] != "Mens E-Mail"].to_csv(path, index=False)
    for seed in (0, 1):
        policies = fit_experiment(_experiment(path, top=0.3, seed=seed)).policies
        assert 1 - policies.targeted_share["No E-Mail"] == pytest.approx(0.3, abs=0.01)
        gain, interval = policies.gain_over_random_same_share, policies.gain_over_random_same_share_interval
        assert gain is not None and interval is not None
        assert gain > 0.007 and interval[0] > 0.002 and interval[0] < gain < interval[1]
        assert policies.recommendation == "target" and not policies.within_noise


def test_a_gain_within_the_noise_of_the_held_out_rows_is_not_targeted(hillstrom_csv: Path) -> None:
    # All three arms under a 30 % cap (the demo's case): the ranking comes out ahead of a random 30 %
    # on both seeds, by 0.04-0.17 visits per 100 customers, with a 95 % interval of about ±0.6 around
    # it. It was "target" on both; it is no gain now.
    for seed in (0, 1):
        policies = fit_experiment(_experiment(hillstrom_csv, top=0.3, seed=seed)).policies
        gain, interval = policies.gain_over_random_same_share, policies.gain_over_random_same_share_interval
        assert gain is not None and interval is not None
        assert 0 < gain < 0.002 and interval[0] < 0 < interval[1] and interval[1] - interval[0] > 0.008
        assert policies.recommendation == "no_gain" and policies.within_noise
        assert "within noise" in recommendation_text(policies)
        assert "噪声范围内" in recommendation_text(policies, "zh")
    # Without a cap, seed 1's targeting beats sending everyone the men's e-mail by 0.1 visits per 100
    # customers (it was "target"); the interval spans 0, so the blanket send is the advice.
    policies = fit_experiment(_experiment(hillstrom_csv, seed=1)).policies
    low, high = policies.gain_over_best_blanket_interval
    assert 0 < policies.gain_over_best_blanket < 0.002 and low < 0 < high
    assert (
        policies.gain_over_random_same_share is None and policies.gain_over_random_same_share_interval is None
    )
    assert policies.recommendation == "send_everyone" and policies.within_noise
    assert recommendation_text(policies, "zh").startswith(
        "全部发送「Mens E-Mail」：定向在留出数据上的增益在噪声范围内"
    )


def test_shuffled_arms_leave_nothing_to_find(hillstrom_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(hillstrom_csv)
    frame["segment"] = frame["segment"].sample(frac=1, random_state=7).to_numpy()
    path = tmp_path / "shuffled.csv"
    frame.to_csv(path, index=False)
    report = fit_experiment(_experiment(path))
    for q in report.qini:
        assert abs(q.average_uplift) < 0.01
        assert q.p_value > 0.05


def test_metrics_on_hand_computed_rows() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    treated = np.array([True, False, True, False, True, False])
    outcome = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    q = qini_summary("A", score, treated, outcome, permutations=10)
    assert q.average_uplift == pytest.approx(2 / 3 - 1 / 3)
    assert q.treated == 3 and q.control == 3
    # Policy value: treating only row 0's kind of customer; arms assigned half and half.
    arms = pd.Series(["A", "B", "A", "B"])
    outcome_s = pd.Series([1.0, 0.0, 0.0, 1.0])
    assert policy_value(pd.Series(["A"] * 4), arms, outcome_s, {}) == pytest.approx(0.5)
    assert policy_value(pd.Series(["A", "B", "B", "B"]), arms, outcome_s, {"B": 0.25}) == pytest.approx(
        (1.0 + (0 - 0.25) + (1 - 0.25)) / 3
    )

    # The bootstrap: the same seed gives the same resamples; a policy against itself differs by nothing
    # (paired); the resamples centre on policy_value.
    rng = np.random.default_rng(3)
    arms_a = rng.choice(np.array(["A", "B", "C"], dtype=object), 3000, p=[0.2, 0.3, 0.5])
    gain_a = rng.binomial(1, np.where(arms_a == "A", 0.3, 0.1)).astype(float)
    picks = [rng.choice(np.array(["A", "B", "C"], dtype=object), 3000), np.full(3000, "A", dtype=object)]
    draws = bootstrap_policy_values([*picks, picks[0]], arms_a, gain_a, resamples=300, seed=5, cells=210_000)
    assert np.array_equal(
        draws, bootstrap_policy_values([*picks, picks[0]], arms_a, gain_a, resamples=300, seed=5)
    )
    assert np.array_equal(draws[:, 0], draws[:, 2])
    for column, pick in enumerate(picks):
        point = policy_value(pd.Series(pick), pd.Series(arms_a), pd.Series(gain_a), {})
        assert draws[:, column].mean() == pytest.approx(point, abs=0.003)


def test_a_score_that_ranks_nobody_is_no_better_than_random(hillstrom_csv: Path) -> None:
    # The held-out model of a small file is a constant (too few rows for a tree to split): the Qini of
    # the order the rows came in was reported as the model's (python-api.md showed 0.0057 with p = 1).
    frame = pd.read_csv(hillstrom_csv).head(2000)
    rows = frame[frame["segment"].isin(["Mens E-Mail", "No E-Mail"])]
    treated = (rows["segment"] == "Mens E-Mail").to_numpy()
    outcome = rows["visit"].to_numpy(dtype=float)
    q = qini_summary("Mens E-Mail", np.full(len(rows), 0.16), treated, outcome, permutations=20)
    assert q.qini == pytest.approx(0.0, abs=1e-9) and q.p_value == 1.0
    assert q.captured == pytest.approx({"10%": 0.1, "20%": 0.2, "30%": 0.3, "50%": 0.5}, abs=0.002)


def test_gbk_file_with_chinese_arms_is_scored(hillstrom_csv: Path, tmp_path: Path, settings) -> None:
    frame = pd.read_csv(hillstrom_csv).sample(12_000, random_state=0)
    frame["segment"] = frame["segment"].map(
        {"Mens E-Mail": "男装邮件", "Womens E-Mail": "女装邮件", "No E-Mail": "不发送"}
    )
    frame.insert(0, "客户编号", [f"C{i:05d}" for i in range(len(frame))])
    path = tmp_path / "实验.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    experiment = Experiment(
        path=path,
        treatment_col="segment",
        control="不发送",
        outcome_col="visit",
        features=FEATURES,
        id_col="客户编号",
        costs={"男装邮件": 0.02, "女装邮件": 0.02},
    )
    report = fit_experiment(experiment, settings)
    scores = pd.read_parquet(report.scores_path)
    assert len(scores) == 12_000 and scores["客户编号"].is_unique
    assert set(scores["best_arm"]) <= {"男装邮件", "女装邮件", "none"}
    assert list(scores.columns[1:3]) == ["uplift[女装邮件]", "uplift[男装邮件]"]
    assert scores["expected_gain"].is_monotonic_decreasing
    assert report.chart_path and report.chart_path.read_bytes()[:4] == b"\x89PNG"
    assert report.scores_csv and "男装邮件" in report.scores_csv.read_text("utf-8-sig")


def test_bad_inputs_are_named(hillstrom_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no column 'basket'"):
        fit_experiment(_experiment(hillstrom_csv, features=["recency", "basket"]))
    with pytest.raises(UserError, match="cannot be a feature"):
        fit_experiment(_experiment(hillstrom_csv, features=["recency", "visit"]))
    with pytest.raises(UserError, match="not in the data: Push"):
        fit_experiment(_experiment(hillstrom_csv, costs={"Push": 0.1}))
    with pytest.raises(UserError, match="control arm 'Holdout'"):
        fit_experiment(_experiment(hillstrom_csv, control="Holdout"))
    frame = pd.read_csv(hillstrom_csv, dtype={"visit": str}).head(3000)
    frame.loc[5, "visit"] = "yes"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(ValidationFailed, match="row 7, column 'visit': 'yes' is not a number"):
        fit_experiment(_experiment(bad))
    small = pd.read_csv(hillstrom_csv).head(600)
    small.to_csv(tmp_path / "small.csv", index=False)
    with pytest.raises(UserError, match="fewer than 200 rows"):
        fit_experiment(_experiment(tmp_path / "small.csv"))


def test_cli_prints_json_and_writes_scores(
    hillstrom_csv: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["decide", "uplift", "--input", str(hillstrom_csv), "--treatment-col", "segment"]
    args += ["--control", "No E-Mail", "--outcome-col", "visit", "--features", ",".join(FEATURES)]
    args += ["--cost", "Mens E-Mail=0.03", "--top", "0.3", "--json"]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 0
    report = json.loads(capsys.readouterr().out)
    assert {q["arm"] for q in report["qini"]} == {"Mens E-Mail", "Womens E-Mail"}
    assert Path(report["scores_csv"]).is_file() and Path(report["chart_path"]).is_file()
    monkeypatch.setattr(sys, "argv", ["marketpilot", "decide", "uplift", *args[2:-1], "--cost", "Mens"])
    assert run_app(app) == 2
    assert "NAME=AMOUNT" in capsys.readouterr().err


def test_report_in_chinese_states_the_recommendation(
    hillstrom_csv: Path, llm_server, home: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ["decide", "uplift", "--input", str(hillstrom_csv), "--treatment-col", "segment"]
    args += ["--control", "No E-Mail", "--outcome-col", "visit", "--features", ",".join(FEATURES)]
    args += ["--report", "--lang", "zh", "--json"]
    llm_server.script("按模型定向发送，定向效果已在留出客户上验证。")
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 0
    out = json.loads(capsys.readouterr().out)
    facts = llm_server.requests[0]["messages"][-1]["content"]
    assert "- 留出验证的客户数: 19200" in facts and "- 效果最好的单一方案: Mens E-Mail" in facts
    # Without a send cap on Hillstrom the best single arm for everyone is the honest advice or targeting.
    assert ("全部发送「Mens E-Mail」" in facts) or ("按模型定向" in facts)
    assert out["report"]["narrative_source"] == "llm"
    assert "![增量定向分析" in Path(out["report"]["path"]).read_text("utf-8")
