"""Personalised treatment benefit on a simulated randomised trial, and its validation.

Usage: ``python examples/treatment_benefit.py [OUT_DIR]`` (a temporary folder when omitted).

1. simulates a 1:1 randomised trial of 500 patients whose treatment effect depends on a
   biomarker (true log-hazard ratio of treatment ``-0.2 - 0.8 * marker``), so the true benefit
   of every patient is known;
2. fits a T-learner (one Cox model per arm) and reads, per patient, the predicted 2-year
   survival under each arm and the benefit, with bootstrap confidence intervals;
3. computes out-of-fold benefit (5-fold cross-validation) and validates it against the
   observed outcomes: hazard ratio by benefit tertile, treatment x benefit interaction,
   c-for-benefit, recommended vs anti-recommended Kaplan-Meier;
4. saves the validation plot and the predicted-vs-true benefit plot as PNG files.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radiopredict.models.survival import CoxPH
from radiopredict.report import plot_benefit_validation, plot_benefit_vs_truth
from radiopredict.targets import make_survival_target
from radiopredict.treatment import TreatmentBenefit, cross_val_benefit, validate_benefit

HORIZON = 24.0  # months


def simulate_trial(n: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Covariates + treatment, survival target and the true benefit at HORIZON."""
    rng = np.random.default_rng(seed)
    age = rng.normal(64, 10, n)
    stage = rng.integers(1, 5, n)
    marker = rng.normal(0, 1, n)  # the effect modifier
    treatment = rng.permutation(np.arange(n) % 2)  # 1:1 randomisation
    eta0 = 0.03 * (age - 64) + 0.4 * (stage - 2.5)
    eta1 = eta0 - 0.2 - 0.8 * marker
    base = np.log(2) / 24.0  # exponential baseline: median survival 24 months
    eta = np.where(treatment == 1, eta1, eta0)
    event_time = rng.exponential(1 / (base * np.exp(eta)))
    censor_time = rng.uniform(12, 60, n)  # staggered entry, administrative censoring
    y = make_survival_target(event_time <= censor_time, np.minimum(event_time, censor_time))
    true_benefit = np.exp(-base * HORIZON * np.exp(eta1)) - np.exp(-base * HORIZON * np.exp(eta0))
    X = pd.DataFrame(
        {"age": age, "stage": stage, "marker": marker, "treatment": treatment},
        index=[f"PT{i:03d}" for i in range(n)],
    )
    return X, y, true_benefit


def main(out: Path) -> None:
    t0 = time.perf_counter()
    X, y, true_benefit = simulate_trial()
    print(f"{len(X)} patients, {y['event'].mean():.0%} events, {X['treatment'].mean():.0%} treated")

    # 1. fit on everyone, with bootstrap CIs, and look at three patients
    model = TreatmentBenefit(CoxPH(alpha=0.01), learner="t", horizon=HORIZON)
    fitted = model.set_params(n_bootstrap=20, random_state=0).fit(X, y)
    table = fitted.predict_benefit(X.iloc[:3])
    cols = ["survival[0]", "survival[1]", "benefit[1]", "benefit[1]_lower", "benefit[1]_upper"]
    print(f"\npredicted 2-year survival and benefit (95 % bootstrap CI):\n{table[cols].round(3)}")
    print(f"\nrecommended arm:\n{fitted.recommend(X.iloc[:3]).to_string()}")

    # 2. out-of-fold benefit: each patient's benefit from a model that never saw them
    oof = cross_val_benefit(model.set_params(n_bootstrap=0), X, y, n_splits=5, random_state=0)
    benefit = oof["benefit[1]"].to_numpy()
    r = np.corrcoef(benefit, true_benefit)[0, 1]
    print(f"\nout-of-fold benefit: {benefit.min():+.2f} to {benefit.max():+.2f}; r(true) = {r:.2f}")

    # 3. validate against the observed outcomes
    check = validate_benefit(benefit, X["treatment"], y, horizon=HORIZON)
    print("\nby tertile of predicted benefit:")
    print(
        check.by_group[
            ["group", "n", "predicted_benefit_mean", "observed_benefit", "hazard_ratio"]
        ].round(3)
    )
    print(f"\n{check.summary().to_string(index=False, float_format=lambda v: f'{v:.3g}')}")

    # 4. plots
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_benefit_validation(check, title="simulated trial, out-of-fold T-learner benefit")
    fig.savefig(out / "benefit_validation.png", dpi=100, bbox_inches="tight")
    fig = plot_benefit_vs_truth(benefit, true_benefit, title="simulated trial")
    fig.savefig(out / "benefit_vs_truth.png", dpi=100, bbox_inches="tight")
    print(f"\nplots in {out} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
