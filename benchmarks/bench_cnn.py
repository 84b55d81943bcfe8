"""CNN on the synthetic diagnosis task: CPU seconds per fold and the ablation (synthetic data).

    PYTHONPATH=. nice python benchmarks/bench_cnn.py --n 200 --out /tmp/bench_cnn

Writes ``bench_cnn.json`` and ``ablation.csv`` under ``--out``. Timings are process CPU seconds
of one CNN fit with ``torch.set_num_threads(1)`` (the crops are computed once, outside).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_cnn"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    make_synthetic_cohort(args.out / "cohort", args.n, seed=args.seed, diagnosis=True)
    cohort = Cohort.read(args.out / "cohort" / "manifest_diagnosis.csv")
    y = cohort.binary_target()
    t0 = time.process_time()
    settings = FeatureSettings(families=("morphology", "intensity_stats", "glcm"))
    feats = extract(cohort, settings, progress=False, on_error="raise").features
    t_feat = time.process_time() - t0
    radiomics = feats.select_dtypes("number").reset_index(drop=True)
    radiomics = radiomics.loc[:, radiomics.std() > 0]
    clin = cohort.clinical().reset_index(drop=True)
    clinical = pd.DataFrame(
        {
            "age": clin["age"].astype(float),
            "stage": clin["stage"].astype(float),
            "male": (clin["sex"] == "M").astype(float),
        }
    )
    crop = CropSettings(
        size_mm=(48.0,) * 3,
        shape=(32,) * 3,
        include_mask=True,
        intensity="window",
        window=(-1000.0, 400.0),
    )
    t0 = time.process_time()
    crops = cohort_crops(cohort, crop)
    t_crop = time.process_time() - t0
    cnn = CNNClassifier(
        epochs=args.epochs, validation_fraction=0.0, time_budget_s=300, random_state=args.seed
    )
    res = run_ablation(
        y,
        clinical=clinical,
        radiomics=radiomics,
        crops=crops,
        cnn=cnn,
        cv=args.folds,
        random_state=args.seed,
    )
    res.table.to_csv(args.out / "ablation.csv", index=False)
    out = {
        "data": "SYNTHETIC diagnosis task (make_synthetic_cohort(diagnosis=True))",
        "machine": f"{platform.processor() or platform.machine()}, torch threads 1",
        "n_cases": args.n,
        "crop": crop.to_dict(),
        "n_radiomic_features": radiomics.shape[1],
        "feature_extraction_cpu_s": round(t_feat, 1),
        "crops_cpu_s": round(t_crop, 1),
        "cnn_fit_cpu_s_per_outer_fold": [round(v, 1) for v in res.cnn_fit_cpu_seconds],
        "cnn_epochs": args.epochs,
        "outer_folds": args.folds,
        "inner_folds": args.inner,
        "ablation": res.table.round(4).to_dict(orient="records"),
    }
    (args.out / "bench_cnn.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
