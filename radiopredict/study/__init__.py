"""Studies: settings, the stage functions, the whole-study runner and the locked model.

- :class:`Study` (:mod:`radiopredict.study.settings`): what a study does, validated up front.
- :mod:`radiopredict.study.stages`: one plain function per stage, shared by development and
  prediction.
- :func:`run_study` / :func:`run_demo` (:mod:`radiopredict.study.run`): cross-validated
  development with every output in one folder.
- :class:`StudyModel` (:mod:`radiopredict.study.model`): the locked model that scores new
  patients and is validated on other cohorts.
"""

from __future__ import annotations

from radiopredict.study.model import StudyModel, StudyPrediction
from radiopredict.study.run import (
    DEMO_BUDGET_S,
    predict_and_report,
    run_demo,
    run_study,
    summarise_cohort,
)
from radiopredict.study.settings import (
    EmbeddingSection,
    FeatureSection,
    ModelSection,
    ReportSection,
    SegmentationSection,
    Study,
    TreatmentSection,
)

__all__ = [
    "Study",
    "StudyModel",
    "StudyPrediction",
    "run_study",
    "predict_and_report",
    "run_demo",
    "summarise_cohort",
    "DEMO_BUDGET_S",
    "SegmentationSection",
    "FeatureSection",
    "EmbeddingSection",
    "ModelSection",
    "TreatmentSection",
    "ReportSection",
]
