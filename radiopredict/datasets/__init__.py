"""Data sets: a synthetic cohort with known ground truth.

:func:`make_synthetic_cohort` writes CT-like NIfTI volumes, multi-label tumour masks, a manifest
and the ground truth that generated them; :func:`load_synthetic_ground_truth` reads the truth back.
"""

from __future__ import annotations

from radiopredict.datasets.synthetic import (
    LABEL_NAMES,
    DiagnosisModel,
    SyntheticModel,
    load_synthetic_ground_truth,
    make_synthetic_cohort,
)

__all__ = [
    "LABEL_NAMES",
    "DiagnosisModel",
    "SyntheticModel",
    "load_synthetic_ground_truth",
    "make_synthetic_cohort",
]
