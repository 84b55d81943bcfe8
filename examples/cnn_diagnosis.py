"""Diagnosis with a CNN on ROI crops, fused with radiomics (SYNTHETIC data).

Writes a small synthetic cohort with the diagnosis task (satellite lesions outside the tumour
mask), trains the CNN inside cross-validation, runs the ablation (clinical, radiomics, CNN, late
and intermediate fusion) and writes Grad-CAM / occlusion maps of one patient. Small on purpose
(48 patients, 10 epochs) so that CI runs it in about a minute; see docs/cnn.md for the full-size
numbers.

    python examples/cnn_diagnosis.py OUTPUT_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

from radiopredict.ablation import run_ablation
from radiopredict.cohort import Cohort
from radiopredict.datasets import make_synthetic_cohort
from radiopredict.embed import CropSettings
from radiopredict.features import FeatureSettings
from radiopredict.features.extract import extract
from radiopredict.models import CNNClassifier, cohort_crops
from radiopredict.models.cnn_explain import explain_case


def main(out: Path) -> None:
    torch.set_num_threads(1)
    make_synthetic_cohort(out / "cohort", n_patients=48, seed=0, diagnosis=True)
    # manifest_diagnosis.csv: the manifest whose `response` column is the diagnosis (1 = abnormal)
    cohort = Cohort.read(out / "cohort" / "manifest_diagnosis.csv")
    y = cohort.binary_target()

    crop = CropSettings(
        size_mm=(48.0,) * 3,
        shape=(32,) * 3,
        include_mask=True,
        intensity="window",
        window=(-1000.0, 400.0),
    )
    crops = cohort_crops(cohort, crop)  # (48, 2, 32, 32, 32)
    features = extract(
        cohort, FeatureSettings(families=("morphology", "intensity_stats")), progress=False
    ).features
    radiomics = features.select_dtypes("number").reset_index(drop=True)
    radiomics = radiomics.loc[:, radiomics.std() > 0]
    clin = cohort.clinical().reset_index(drop=True)
    clinical = pd.DataFrame(
        {"age": clin["age"].astype(float), "stage": clin["stage"].astype(float)}
    )

    cnn = CNNClassifier(epochs=10, validation_fraction=0.0, time_budget_s=120, random_state=0)
    result = run_ablation(
        y,
        clinical=clinical,
        radiomics=radiomics,
        crops=crops,
        cnn=cnn,
        cv=3,
        inner_cv=2,
        n_bootstrap=200,
    )
    cols = ["model", "auc", "auc_boot_low", "auc_boot_high", "diff_vs_reference", "delong_p"]
    print("SYNTHETIC data, 48 patients, 10 epochs (a demonstration, not a result):")
    print(result.table[cols].round(3).to_string(index=False))
    result.table.to_csv(out / "ablation.csv", index=False)

    model = CNNClassifier(epochs=10, validation_fraction=0.0, random_state=0).fit(crops, y)
    paths = explain_case(model, cohort.cases()[0], crop, out / "explanations")
    for name, path in sorted(paths.items()):
        print(f"{name}: {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("cnn_diagnosis_output"))
