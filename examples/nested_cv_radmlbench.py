"""Radiomics table -> nested cross-validation -> metrics with confidence intervals.

Run: ``python examples/nested_cv_radmlbench.py [OUT_DIR]`` (default: a temporary folder).

1. Response: a radMLBench feature table (HNSCC) when the reference data folder is present
   (``$RADIOPREDICT_SHARED_DATA`` or ``../shared/data``); otherwise scikit-learn's bundled
   breast-cancer table stands in. Cross-validation of the default response pipeline (on each
   outer training fold its inner CV picks one of several pipelines), the choice per outer fold,
   AUC and Brier score with bootstrap CIs; then nested CV of one fixed candidate (the inner grid
   search picks its penalty).
2. Survival: lifelines' bundled Rossi recidivism data, repeated CV of the default survival
   pipeline: Harrell and Uno C, time-dependent AUC, integrated Brier score, calibration at 1 year.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from radiopredict import make_survival_target
from radiopredict.evaluate import cross_validate, nested_cv
from radiopredict.metrics import survival_calibration
from radiopredict.models import (
    candidate_pipelines,
    default_param_grid,
    default_pipeline,
    predict_survival_function,
)


def response_table() -> tuple[str, pd.DataFrame, np.ndarray]:
    root = Path(
        os.environ.get("RADIOPREDICT_SHARED_DATA", Path(__file__).parents[2] / "shared/data")
    )
    path = root / "radmlbench" / "HNSCC.gz"
    if path.is_file():
        data = pd.read_csv(path)
        return "radMLBench HNSCC", data.drop(columns=["ID", "Target"]), data["Target"].to_numpy()
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return "sklearn breast cancer (radMLBench absent)", X, y.to_numpy()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)

    name, X, y = response_table()
    res = cross_validate(default_pipeline("response"), X, y, n_splits=3, metrics=["auc", "brier"])
    summary = res.summary(n_bootstrap=200)
    print(f"Response, {name}: {X.shape[0]} patients, {X.shape[1]} features")
    print(summary[["mean", "sd", "ci_low", "ci_high"]].round(3).to_string())
    print("pipeline chosen inside each outer training fold (inner 5-fold AUC):")
    print(res.chosen()[["fold", "candidate", "inner_mean", "auc"]].round(3).to_string(index=False))
    res.predictions.to_csv(out / "response_oof_predictions.csv", index=False)
    res.inner_choice.to_csv(out / "response_inner_choice.csv", index=False)

    fixed = nested_cv(
        candidate_pipelines("response")["enet"],
        default_param_grid("response", "enet"),
        X,
        y,
        n_splits=3,
        inner_splits=3,
        metrics=["auc"],
    )
    print("fixed candidate 'enet', penalty chosen per outer fold:", end=" ")
    print([b["model__C"] for b in fixed.best_params], f"AUC {fixed.scores['auc'].mean():.3f}")

    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    Xs = rossi.drop(columns=["arrest", "week"]).astype(float)
    ys = make_survival_target(rossi["arrest"], rossi["week"])
    surv = cross_validate(
        default_pipeline("survival"), Xs, ys, n_splits=3, n_repeats=2, times=[13, 26, 39]
    )
    print("\nSurvival, Rossi: 432 patients, 7 variables")
    print(surv.summary(n_bootstrap=100)[["mean", "sd", "ci_low", "ci_high"]].round(3).to_string())
    surv.scores.to_csv(out / "survival_fold_scores.csv", index=False)

    # calibration at one year of a model fitted on two thirds, checked on the last third
    train = np.arange(len(ys)) % 3 != 0
    model = default_pipeline("survival").fit(Xs[train], ys[train])
    s52 = predict_survival_function(model, Xs[~train], [50.0])[:, 0]
    cal = survival_calibration(ys[~train], s52, 50.0, n_groups=3)
    print("\nCalibration at week 50 (held-out third):")
    print(cal.table.round(3).to_string(index=False))
    print(f"ICI = {cal.ici:.3f}")
    cal.table.to_csv(out / "survival_calibration.csv", index=False)
    print(f"\nwrote results to {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
