"""Develop a study on one synthetic cohort, lock the model, validate it on another.

Usage: ``python examples/develop_and_validate.py [OUT_DIR]`` (a temporary folder when omitted).

1. writes a development cohort (60 synthetic patients, seed 0) and an external cohort
   (40 patients, seed 1: same generator, other patients);
2. runs the study (IBSI features, ComBat across sites, the elastic-net Cox model, treatment
   benefit) with ``external:`` naming the second cohort, so the locked model is validated
   inside the same run;
3. reloads the bundle as a :class:`radiopredict.StudyModel`, scores the external cohort again
   and checks that the predictions equal the study's own external predictions;
4. prints the internal cross-validated and the external Harrell C-index.

All numbers are on synthetic data.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import radiopredict as rp
from radiopredict.study import Study, StudyModel


def main(out: Path) -> None:
    develop = rp.make_synthetic_cohort(out / "develop", n_patients=60, seed=0)
    external = rp.make_synthetic_cohort(out / "external-cohort", n_patients=40, seed=1)
    study = Study.from_dict(
        {
            "manifest": str(develop),
            "output": str(out / "study"),
            "external": str(external),
            "horizon": 24.0,
            "features": {"settings": "ct", "label": 1},
            "model": {"estimator": "coxph", "cv_splits": 3, "cv_repeats": 1, "n_bootstrap": 50},
            "treatment": {"n_bootstrap": 3, "cv_splits": 3},
            "report": {"n_patients": 1},
        }
    )
    outputs = study.run()

    model = StudyModel.load(outputs["bundle"])
    scored = model.predict(rp.Cohort.read(external), explain=False)
    in_run = pd.read_csv(outputs["external_predictions"], index_col="patient_id")
    in_run.index = in_run.index.astype(str)
    np.testing.assert_allclose(
        scored.predictions["risk"].to_numpy(), in_run.loc[scored.predictions.index, "risk"]
    )

    perf = pd.read_csv(outputs["performance"])
    internal = perf[(perf["model"] == "full model") & (perf["metric"] == "harrell_c")].iloc[0]
    metrics = pd.read_csv(outputs["external_external_validation"]).set_index("metric")
    ext = metrics.loc["harrell_c"]
    print(
        f"synthetic data: internal CV Harrell C {internal['mean']:.3f} "
        f"({internal['ci_low']:.3f}-{internal['ci_high']:.3f}); external "
        f"{ext['value']:.3f} ({ext['ci_low']:.3f}-{ext['ci_high']:.3f})"
    )
    print(f"report: {outputs['report']}\nexternal report: {outputs['external_report']}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
