"""From the file of a past randomised experiment to a targeting decision for the next send.

    experiment file ──► split by arm (held-out share) ──► T-learner on the rest
                   └──► held-out: Qini per arm, policy values ──► refit on all rows ──► scores

The held-out figures say whether the targeting is real before anyone acts on it: a Qini p-value well
under 0.05 and a targeting policy worth more than sending everyone the best arm by more than the
noise of the held-out rows (a paired bootstrap interval of the gain above 0). Scores come from a
model refitted on every row, so the shipped decision uses all the data the figures were judged on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import train_test_split

from marketpilot.analytics.outputs import write_json, write_table
from marketpilot.analytics.uplift.chart import qini_chart
from marketpilot.analytics.uplift.metrics import (
    QiniSummary,
    bootstrap_policy_values,
    policy_value,
    qini_curve,
    qini_summary,
)
from marketpilot.analytics.uplift.model import UpliftModel, check_arms, check_events
from marketpilot.config import Settings
from marketpilot.data.mapping import parse_amounts
from marketpilot.data.readers import blank, read_frame, require_columns, require_filled
from marketpilot.errors import UserError, ValidationFailed

NONE = "none"


class Experiment(BaseModel):
    """What a past experiment file holds and what an outcome is worth."""

    model_config = ConfigDict(allow_inf_nan=False)

    path: Path
    treatment_col: str
    control: str
    outcome_col: str
    features: list[str] = Field(min_length=1)
    id_col: str | None = None
    value: float = Field(1.0, gt=0, description="worth of one unit of outcome (a visit, a conversion)")
    costs: dict[str, float] = Field(default_factory=dict, description="cost of sending an arm, per customer")
    top: float | None = Field(None, gt=0, le=1, description="treat at most this share, highest gain first")
    test_share: float = Field(0.3, gt=0.05, lt=0.9)
    seed: int = 0


class PolicyValues(BaseModel):
    """Held-out value per customer (outcome × value − cost) of each way to decide. `random_same_share`:
    the best arm sent to a random sample as large as the share the targeting treats — what a ranking
    must beat when only part of the customers can be sent anything."""

    targeted: float
    everyone: dict[str, float]
    best_blanket: str
    gain_over_best_blanket: float
    gain_over_best_blanket_interval: tuple[float, float] = Field(
        description="95 % paired bootstrap interval of gain_over_best_blanket over the held-out rows"
    )
    random_same_share: float
    gain_over_random_same_share: float | None = Field(
        description="with a send cap: targeted − random_same_share, the gain the recommendation rests on"
    )
    gain_over_random_same_share_interval: tuple[float, float] | None = Field(
        description="with a send cap: 95 % paired bootstrap interval of gain_over_random_same_share"
    )
    bootstrap_resamples: int = Field(description="resamples of the held-out rows behind the intervals")
    targeted_share: dict[str, float]
    # target: send each customer its best_arm; send_everyone: best_blanket to all (targeting did not
    # beat it); send_nobody: no arm is worth its cost; no_gain: under the cap, no better than random.
    # "Beat" means the interval's lower bound is above 0: a gain within the noise of the held-out rows
    # is no reason to run a targeted campaign.
    recommendation: Literal["target", "send_everyone", "send_nobody", "no_gain"]

    @property
    def within_noise(self) -> bool:
        """The targeting came out ahead on the held-out rows, but by less than their noise."""
        capped = self.gain_over_random_same_share is not None
        gain = self.gain_over_random_same_share if capped else self.gain_over_best_blanket
        return self.recommendation != "target" and (gain or 0.0) > 0


class UpliftReport(BaseModel):
    rows: int
    held_out: int
    outcome: str
    binary_outcome: bool
    send_cap: float | None = Field(None, description="the largest share treated (`top`), if any")
    features: list[str]
    arms: dict[str, int]
    qini: list[QiniSummary]
    policies: PolicyValues
    # Held-out Qini curve per arm at 0, 1, …, 100 % of customers targeted (incremental outcome).
    qini_curves: dict[str, list[float]] = Field(default_factory=dict)
    scores_path: Path | None = None
    scores_csv: Path | None = None
    chart_path: Path | None = None


def _numbers(frame: pd.DataFrame, columns: list[str], source: Path | None = None) -> pd.DataFrame:
    """Text columns whose filled cells parse as numbers become numbers, empty cells missing (CSV cells
    arrive as text). A column of numbers with a few cells that are not (a typo, "abc") is refused with
    those rows rather than read as categories."""
    out = frame.copy()
    for column in columns:
        filled = ~blank(out[column])
        parsed = parse_amounts(out[column].where(filled))  # "￥1,200" and "1,234.50" are numbers too
        bad = np.flatnonzero((filled & parsed.isna()).to_numpy())
        if filled.any() and not bad.size:
            out[column] = parsed
        elif source is not None and 0 < bad.size <= 0.1 * filled.sum():
            raise ValidationFailed(
                [
                    f"row {i + 2}, column {column!r}: {out[column].iloc[i]!r} is not a number"
                    for i in bad[:20]
                ],
                source=str(source),
                hint="the column holds numbers elsewhere; fix or empty these cells",
                total=bad.size,
            )
    return out


# A converted column exported as words: 是/否, yes/no, true/false (a JSON boolean sent to the API).
FLAG_WORDS = {"true": 1, "false": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "是": 1, "否": 0}


def _flags(values: pd.Series) -> pd.Series:
    """A column of yes/no words as 1/0 (empty cells stay empty); any other column as it is."""
    text = values.astype(object).where(~blank(values), "").astype(str).str.strip().str.lower()
    words = text.map(FLAG_WORDS)
    filled = text != ""
    if not filled.any() or words[filled].isna().any():
        return values  # numbers, or words mixed with numbers (a typo for the row check to name)
    return words.where(filled, None)


def arm_label(value: object) -> str:
    """An arm's name as written, except a whole number a spreadsheet wrote as a float: "1.0" is arm 1."""
    text = str(value).strip()
    return re.sub(r"^([-+]?\d+)\.0+$", r"\1", text)


def _control(arms: pd.Series, control: str) -> str:
    """The control arm as the data write it: `--control false` finds False, `--control 0` finds 0.0;
    left as given when no single arm matches (check_arms then names the arms there are)."""
    label = arm_label(control)
    if label in set(arms):
        return label
    same = [arm for arm in arms.unique() if arm.casefold() == label.casefold()]
    return same[0] if len(same) == 1 else label


def _load(experiment: Experiment) -> tuple[pd.DataFrame, Experiment]:
    """The experiment's rows, checked, and the experiment with its arm names as the data write them."""
    frame = read_frame(experiment.path)
    if frame.empty:
        raise UserError(
            f"{experiment.path}: the file has a header but no rows",
            hint="one row per customer of the experiment, the control included",
        )
    needed = [experiment.treatment_col, experiment.outcome_col, *experiment.features]
    if experiment.id_col:
        needed.append(experiment.id_col)
    require_columns(frame, needed, experiment.path)
    overlap = {experiment.treatment_col, experiment.outcome_col} & set(experiment.features)
    if overlap:
        raise UserError(f"{', '.join(sorted(overlap))} cannot be a feature: it is the arm or the outcome")
    raw = frame[experiment.outcome_col]
    frame[experiment.outcome_col] = _flags(raw)
    frame = _numbers(frame, [*experiment.features, experiment.outcome_col], experiment.path)
    outcome = pd.to_numeric(frame[experiment.outcome_col], errors="coerce").to_numpy(dtype=float)
    # an infinite amount ("inf", 1e400) would reach the trees and fail there with a traceback
    bad = np.flatnonzero(~np.isfinite(outcome))
    if bad.size:
        raise ValidationFailed(
            [
                f"row {i + 2}, column {experiment.outcome_col!r}: "
                + ("empty" if blank(raw).iloc[i] else f"{raw.iloc[i]!r} is not a number")
                + (" (infinite)" if np.isinf(outcome[i]) else "")
                for i in bad[:20]
            ],
            source=str(experiment.path),
            hint="the outcome must be a number per row: 1/0 for a visit or conversion, or an amount",
            total=bad.size,
        )
    hint = "every row needs the arm its customer was in (the control's name for the holdout)"
    require_filled(frame, experiment.treatment_col, experiment.path, hint)
    arms = frame[experiment.treatment_col].map(arm_label)
    frame[experiment.treatment_col] = arms
    control = _control(arms, experiment.control)
    costs = {arm_label(arm): cost for arm, cost in experiment.costs.items()}
    experiment = experiment.model_copy(update={"control": control, "costs": costs})
    check_arms(arms, control)  # before the held-out split
    check_events(arms, frame[experiment.outcome_col], experiment.outcome_col)
    unknown = set(costs) - set(arms)
    if unknown:
        # in words both the CLI (--cost) and the API (costs) can use
        raise UserError(
            f"a cost is given for arms that are not in the data: {', '.join(sorted(unknown))}",
            hint=f"arms in the data: {', '.join(sorted(set(arms)))}",
        )
    if experiment.id_col:
        _unique_ids(frame[experiment.id_col], experiment)
    return frame, experiment


def _customers_to_score(path: Path, experiment: Experiment) -> pd.DataFrame:
    """The file to score, checked before the fit so that a wrong file is named within seconds."""
    frame = read_frame(path)
    if frame.empty:
        raise UserError(f"{path}: the file has a header but no rows", hint="one row per customer to score")
    needed = [*experiment.features, *([experiment.id_col] if experiment.id_col else [])]
    require_columns(frame, needed, path, "the file to score needs the experiment's feature columns")
    return _numbers(frame, experiment.features, path)


def _unique_ids(ids: pd.Series, experiment: Experiment) -> None:
    """One row per customer: a customer in two rows (or two arms) is counted twice by every figure."""
    text = ids.astype(object).where(~blank(ids), None).astype(str).str.strip()
    repeated = np.flatnonzero((text.duplicated() & ~blank(ids)).to_numpy())
    if repeated.size:
        unique = text.drop_duplicates()
        first_row = {value: int(i) for i, value in zip(unique.index, unique.to_numpy(), strict=True)}
        raise ValidationFailed(
            [
                f"row {i + 2}, column {experiment.id_col!r}: {text.iloc[i]!r} is also in row "
                f"{first_row[text.iloc[i]] + 2}"
                for i in repeated[:20]
            ],
            source=str(experiment.path),
            hint="the file needs one row per customer; drop the repeated rows",
            total=repeated.size,
        )


def _choose(uplift: pd.DataFrame, experiment: Experiment) -> pd.Series:
    """Per customer, the arm with the largest expected uplift × value − cost, or the control when none
    is worth its cost; with `top`, only that share of customers (largest gain first) is treated."""
    gain = uplift * experiment.value - pd.Series(experiment.costs).reindex(uplift.columns).fillna(0.0)
    best, margin = gain.idxmax(axis=1), gain.max(axis=1)
    treat = margin > 0
    if experiment.top is not None:
        ranked = margin.rank(ascending=False, method="first")
        treat &= ranked <= experiment.top * len(margin)
    return best.where(treat, experiment.control)


RESAMPLES = 400  # bootstrap resamples of the held-out rows; the interval ends move by ~0.0003 between seeds


def _interval(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]  # resamples without a policy's arm value nothing
    if draws.size == 0:
        return 0.0, 0.0  # no resample to judge by: never a reason to target
    low, high = np.quantile(draws, [0.025, 0.975])
    return round(float(low), 6) + 0.0, round(float(high), 6) + 0.0


def _policies(test: pd.DataFrame, chosen: pd.Series, experiment: Experiment) -> PolicyValues:
    arms, outcome = test[experiment.treatment_col], test[experiment.outcome_col] * experiment.value
    labels = sorted(arms.unique())
    everyone = {
        arm: round(policy_value(pd.Series(arm, index=test.index), arms, outcome, experiment.costs), 6)
        for arm in labels
    }
    targeted = round(policy_value(chosen, arms, outcome, experiment.costs), 6)
    best = max(everyone, key=lambda arm: everyone[arm])
    best_treated = max((a for a in everyone if a != experiment.control), key=lambda arm: everyone[arm])
    treated = float((chosen != experiment.control).mean())
    random_share = (1 - treated) * everyone[experiment.control] + treated * everyone[best_treated]
    shares = chosen.value_counts(normalize=True).round(4)
    # The same resamples value the targeting and every blanket send, so the gains are paired.
    gain = outcome.to_numpy(dtype=float) - arms.map(lambda a: experiment.costs.get(a, 0.0)).to_numpy(float)
    draws = bootstrap_policy_values(
        [chosen.to_numpy(), *(np.full(len(test), arm, dtype=object) for arm in labels)],
        arms.to_numpy(),
        gain,
        resamples=RESAMPLES,
        seed=experiment.seed,
    )
    blanket = dict(zip(labels, draws[:, 1:].T, strict=True))
    over_best = _interval(draws[:, 0] - blanket[best])
    over_random: tuple[float, float] | None = None
    if experiment.top is None:
        # Without a cap the random sample is worth no more than the best blanket send: beating the
        # latter beats both.
        if over_best[0] > 0:
            recommendation = "target"
        else:
            recommendation = "send_nobody" if best == experiment.control else "send_everyone"
    else:
        random_draws = (1 - treated) * blanket[experiment.control] + treated * blanket[best_treated]
        over_random = _interval(draws[:, 0] - random_draws)
        recommendation = "target" if over_random[0] > 0 else "no_gain"
    return PolicyValues(
        targeted=targeted,
        everyone=everyone,
        best_blanket=best,
        gain_over_best_blanket=round(targeted - everyone[best], 6),
        gain_over_best_blanket_interval=over_best,
        random_same_share=round(random_share, 6),
        gain_over_random_same_share=None if over_random is None else round(targeted - random_share, 6),
        gain_over_random_same_share_interval=over_random,
        bootstrap_resamples=RESAMPLES,
        targeted_share={str(arm): float(share) for arm, share in shares.items()},
        recommendation=recommendation,
    )


@dataclass
class HeldOut:
    """What the held-out rows say about a model fitted without them."""

    rows: int
    binary: bool
    qini: list[QiniSummary]
    policies: PolicyValues
    curves: dict[str, np.ndarray]  # arm -> Qini curve, incremental outcome at each depth


def evaluate(frame: pd.DataFrame, experiment: Experiment) -> HeldOut:
    """Fit on one part of the rows and judge on the rest (stratified by arm)."""
    arm_col, outcome_col = experiment.treatment_col, experiment.outcome_col
    train, test = train_test_split(
        frame, test_size=experiment.test_share, stratify=frame[arm_col], random_state=experiment.seed
    )
    model = UpliftModel(experiment.control, experiment.seed).fit(
        train[experiment.features], train[arm_col], train[outcome_col]
    )
    uplift = model.predict(test[experiment.features])
    summaries, curves = [], {}
    for arm in model.treatments:
        rows = test[arm_col].isin([arm, experiment.control]).to_numpy()
        score_, treated = uplift[arm].to_numpy()[rows], (test[arm_col] == arm).to_numpy()[rows]
        outcome = test[outcome_col].to_numpy(dtype=float)[rows]
        summaries.append(qini_summary(arm, score_, treated, outcome, seed=experiment.seed))
        curves[arm] = qini_curve(score_, treated, outcome)
    policies = _policies(test, _choose(uplift, experiment), experiment)
    return HeldOut(len(test), model.binary, summaries, policies, curves)


def score(model: UpliftModel, customers: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Uplift per arm, the chosen arm and its expected gain (uplift × value − cost) per customer."""
    uplift = model.predict(customers[experiment.features])
    chosen = _choose(uplift, experiment)
    gain = (uplift * experiment.value).sub(pd.Series(experiment.costs).reindex(uplift.columns).fillna(0.0))
    out = pd.DataFrame(index=customers.index)
    if experiment.id_col:
        out[experiment.id_col] = customers[experiment.id_col].astype(str)
    else:
        out["row"] = np.arange(2, len(customers) + 2)  # the spreadsheet row of the scored file
    for arm in uplift.columns:
        out[f"uplift[{arm}]"] = uplift[arm].round(6)
    out["best_arm"] = chosen.where(chosen != experiment.control, NONE)
    out["expected_gain"] = gain.max(axis=1).clip(lower=0).round(6)
    return out.sort_values("expected_gain", ascending=False, kind="stable")


def _percentiles(curve: np.ndarray) -> list[float]:
    at = np.round(np.linspace(0, len(curve), 101)).astype(int)
    return [0.0, *(round(float(curve[i - 1]), 4) for i in at[1:])]


def fit_experiment(
    experiment: Experiment, settings: Settings | None = None, score_path: Path | None = None
) -> UpliftReport:
    """Judge the targeting on held-out rows, then score `score_path` (default: the experiment's own
    customers) with a model refitted on every row. With `settings`, scores and a Qini chart are written
    under <home>/decisions/uplift/."""
    frame, experiment = _load(experiment)
    customers = frame if score_path is None else _customers_to_score(score_path, experiment)
    held_out = evaluate(frame, experiment)
    report = UpliftReport(
        rows=len(frame),
        held_out=held_out.rows,
        outcome=experiment.outcome_col,
        binary_outcome=held_out.binary,
        send_cap=experiment.top,
        features=experiment.features,
        arms={str(k): int(v) for k, v in frame[experiment.treatment_col].value_counts().sort_index().items()},
        qini=held_out.qini,
        policies=held_out.policies,
        qini_curves={arm: _percentiles(curve) for arm, curve in held_out.curves.items()},
    )
    if settings is None:
        return report
    model = UpliftModel(experiment.control, experiment.seed).fit(
        frame[experiment.features], frame[experiment.treatment_col], frame[experiment.outcome_col]
    )
    scores = score(model, customers, experiment)
    report.scores_path, report.scores_csv = write_table(settings, scores, "decisions", "uplift", "scores")
    report.chart_path = qini_chart(
        held_out.curves, experiment.outcome_col, settings.path("decisions", "uplift", "qini.png")
    )
    write_json(settings, report, "decisions", "uplift", "summary.json")
    return report
