"""Extract features for a small synthetic cohort: native engine with IBSI-2 filters, the cache,
a failing case recorded in the failures table, and (when installed) the pyradiomics backend.

Usage: python examples/extract_cohort.py [OUT_DIR]   (default: a temporary folder)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

from radiopredict.cohort import Cohort
from radiopredict.datasets import make_synthetic_cohort
from radiopredict.features import FeatureSettings
from radiopredict.features.engines import NativeEngine
from radiopredict.features.extract import ExtractionResult, extract
from radiopredict.features.filters import FilterSpec


def main(out: Path) -> None:
    manifest = make_synthetic_cohort(out / "cohort", n_patients=4, seed=1)
    table = pd.read_csv(manifest)
    # one row per label: tumour (1) and necrosis (2) of the same image are filtered once
    both = pd.concat([table.assign(label=1), table.assign(label=2)], ignore_index=True)
    broken = table.iloc[:1].assign(patient_id="broken", image="does_not_exist.nii.gz")
    cohort = Cohort.from_dataframe(pd.concat([both, broken]), root=manifest.parent)

    settings = FeatureSettings(families=("intensity_stats", "glcm"))
    filters = [
        FilterSpec(kind="log", boundary="mirror", sigma_mm=2.0),
        FilterSpec(kind="wavelet", boundary="mirror", wavelet="coif1", response="HHL"),
    ]
    engine = NativeEngine(settings, filters)
    cache = out / "cache"
    result = extract(cohort, engine=engine, cache_dir=cache, progress=False)
    print(f"{len(result.features)} cases x {result.features.shape[1]} features")
    print(result.failures[["patient_id", "stage", "error"]].to_string(index=False))

    path = result.to_parquet(out / "features.parquet")
    again = extract(cohort, engine=engine, cache_dir=cache, progress=False)
    print(f"rerun: {again.provenance['n_from_cache']} of {len(again.features)} from the cache")
    assert again.features.equals(result.features)
    back = ExtractionResult.read_parquet(path)
    print("provenance keys:", sorted(back.provenance))

    try:
        import radiomics  # noqa: F401
    except ImportError:
        return
    params = {
        "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}},
        "featureClass": {"firstorder": None},
    }
    pyrad = extract(cohort, params, engine="pyradiomics", progress=False)
    cols = ["original_firstorder_Mean", "log-sigma-2-0-mm-3D_firstorder_Mean"]
    print(pyrad.features[cols].head())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
