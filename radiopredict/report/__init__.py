"""Self-contained HTML reports and the plots they embed."""

from radiopredict.report.html import Report, figure_to_data_uri
from radiopredict.report.plots import (
    plot_arm_survival,
    plot_benefit_validation,
    plot_benefit_vs_truth,
    plot_binary_calibration,
    plot_group_shares,
    plot_km_by_cutpoints,
    plot_km_by_risk_group,
    plot_patient_explanation,
    plot_shap_summary,
    plot_survival_calibration,
)

__all__ = [
    "Report",
    "figure_to_data_uri",
    "plot_arm_survival",
    "plot_benefit_validation",
    "plot_benefit_vs_truth",
    "plot_binary_calibration",
    "plot_group_shares",
    "plot_km_by_cutpoints",
    "plot_km_by_risk_group",
    "plot_patient_explanation",
    "plot_shap_summary",
    "plot_survival_calibration",
]
