"""A synthetic cohort with known ground truth: CT-like NIfTI volumes, tumour masks, outcomes.

:func:`make_synthetic_cohort` writes a folder that every stage of radiopredict can read (a
manifest, images, multi-label masks) together with the truth that generated it (latent tumour
properties, true log-hazards, true treatment benefit, true response probabilities), so that
methods can be checked against known answers. The generative model is described in
``docs/synthetic.md`` and recorded, with every parameter, in ``synthetic_info.json``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, roots_legendre

from radiopredict._settings import Settings
from radiopredict.datasets import _phantom
from radiopredict.errors import ConfigError, InputFileNotFoundError

__all__ = [
    "SyntheticModel",
    "DiagnosisModel",
    "make_synthetic_cohort",
    "load_synthetic_ground_truth",
    "LABEL_NAMES",
]

#: label value -> name of the multi-label masks (also written to ``<mask>.labels.json``)
LABEL_NAMES: dict[int, str] = {1: "tumour", 2: "necrosis"}

MANIFEST_COLUMNS = [
    "patient_id",
    "image",
    "mask",
    "label",
    "time",
    "event",
    "response",
    "treatment",
    "batch",
    "age",
    "stage",
    "sex",
]


@dataclass(frozen=True)
class SyntheticModel(Settings):
    """Distributions and true coefficients of the synthetic cohort.

    Every covariate enters the models standardised, $z = (x - m) / s$, with ``m`` and
    ``s`` the mean and standard deviation of the distribution it is drawn from (for the
    volume: $z_V = (\\ln V - \\ln V_{med}) / \\sigma_V$); stage enters as
    ``stage - 2.5`` and sex as ``male`` (0/1). See ``docs/synthetic.md`` for the formulas.

    Attributes
    ----------
    volume_median_mm3, volume_log_sd, volume_range_mm3
        Tumour volume $V$: log-normal, clipped to the range.
    irregularity_range
        Shape irregularity $\\iota$ (SD of the relative radial perturbation): uniform.
    intensity_mean_hu, intensity_sd_hu
        Tumour mean intensity $\\mu$ (HU, before the site shift): normal.
    heterogeneity_range_hu
        Texture heterogeneity $h$ (HU, SD of the smoothed texture field): uniform.
    age_mean, age_sd, age_range
        Age in years: normal, clipped, rounded to whole years.
    stage_probabilities
        Probabilities of stage I, II, III, IV.
    male_probability
        Probability that ``sex`` is ``"M"``.
    site_shift_sd_hu, site_noise_range_hu
        Per site (``batch``): intensity shift ~ N(0, sd), noise SD ~ uniform(range).
    weibull_scale, weibull_shape
        Baseline Weibull survival $S_0(t) = \\exp(-(t/\\lambda)^k)$, time in months.
    beta_volume, beta_heterogeneity, beta_irregularity, beta_intensity, beta_age,
    beta_stage, beta_male
        Log-hazard ratios per standardised unit (prognostic part).
    treatment_log_hr_homogeneous, treatment_log_hr_heterogeneous
        Treatment log-hazard ratio at the lowest and at the highest heterogeneity; linear in
        $h$ in between (the planted effect modification).
    response_intercept, alpha_volume, alpha_heterogeneity, alpha_irregularity,
    alpha_intensity, alpha_treatment
        Logistic model of the binary response.
    necrosis_min_volume_mm3
        Tumours at least this large get a necrotic core (label 2) when ``necrosis=True``.
    """

    volume_median_mm3: float = 1500.0
    volume_log_sd: float = 0.5
    volume_range_mm3: tuple[float, float] = (250.0, 6000.0)
    irregularity_range: tuple[float, float] = (0.0, 0.25)
    intensity_mean_hu: float = 45.0
    intensity_sd_hu: float = 15.0
    heterogeneity_range_hu: tuple[float, float] = (5.0, 50.0)
    age_mean: float = 64.0
    age_sd: float = 10.0
    age_range: tuple[float, float] = (30.0, 90.0)
    stage_probabilities: tuple[float, float, float, float] = (0.2, 0.3, 0.3, 0.2)
    male_probability: float = 0.5
    site_shift_sd_hu: float = 20.0
    site_noise_range_hu: tuple[float, float] = (10.0, 25.0)
    weibull_scale: float = 40.0
    weibull_shape: float = 1.3
    beta_volume: float = 0.5
    beta_heterogeneity: float = 0.3
    beta_irregularity: float = 0.3
    beta_intensity: float = 0.0
    beta_age: float = 0.3
    beta_stage: float = 0.4
    beta_male: float = 0.0
    treatment_log_hr_homogeneous: float = 0.0
    treatment_log_hr_heterogeneous: float = -2.0
    response_intercept: float = -0.4
    alpha_volume: float = -0.8
    alpha_heterogeneity: float = -0.5
    alpha_irregularity: float = 0.0
    alpha_intensity: float = 0.6
    alpha_treatment: float = 1.0
    necrosis_min_volume_mm3: float = 2000.0

    def standardisation(self) -> dict[str, tuple[float, float]]:
        """Centre and scale ``(m, s)`` of every standardised covariate ``z = (x - m) / s``."""
        ilo, ihi = self.irregularity_range
        hlo, hhi = self.heterogeneity_range_hu
        return {
            "log_volume": (math.log(self.volume_median_mm3), self.volume_log_sd),
            "irregularity": ((ilo + ihi) / 2, (ihi - ilo) / math.sqrt(12)),
            "intensity_mean": (self.intensity_mean_hu, self.intensity_sd_hu),
            "heterogeneity": ((hlo + hhi) / 2, (hhi - hlo) / math.sqrt(12)),
            "age": (self.age_mean, self.age_sd),
            "stage": (2.5, 1.0),
            "male": (0.0, 1.0),
        }

    def hazard_coefficients(self) -> dict[str, float]:
        """Prognostic log-hazard ratio of each standardised covariate (``z_<name>``)."""
        return {
            "z_log_volume": self.beta_volume,
            "z_heterogeneity": self.beta_heterogeneity,
            "z_irregularity": self.beta_irregularity,
            "z_intensity_mean": self.beta_intensity,
            "z_age": self.beta_age,
            "z_stage": self.beta_stage,
            "z_male": self.beta_male,
        }

    def response_coefficients(self) -> dict[str, float]:
        """Logistic coefficients of the response model (``intercept`` included)."""
        return {
            "intercept": self.response_intercept,
            "z_log_volume": self.alpha_volume,
            "z_heterogeneity": self.alpha_heterogeneity,
            "z_irregularity": self.alpha_irregularity,
            "z_intensity_mean": self.alpha_intensity,
            "treatment": self.alpha_treatment,
        }


@dataclass(frozen=True)
class DiagnosisModel(Settings):
    """The diagnosis task: a binary ``abnormal`` label with an image-only signal.

    With probability ``satellite_probability`` a patient gets small spherical satellite
    lesions (their number uniform in ``satellite_count``, each radius uniform in
    ``satellite_radius_mm``) whose surfaces lie ``satellite_gap_mm`` (uniform) outside the
    tumour, in the lung. The satellites are drawn into the image but **not** into the mask: a segmentation of the main tumour, and every IBSI feature computed inside it,
    does not see it. The label is Bernoulli with

    $$ \\operatorname{logit} P(\\text{abnormal}) = \\gamma_0 + \\gamma_s\\, s
       + \\gamma_h z_h + \\gamma_a z_{age}, $$

    with $s \\in \\{0, 1\\}$ the satellite indicator, $z_h$ the standardised texture
    heterogeneity (visible to radiomics) and $z_{age}$ the standardised age (clinical), so
    radiomics and clinical variables capture the label only in part and the image carries
    the rest.

    Attributes
    ----------
    satellite_probability
        Probability that a patient has satellite lesions.
    satellite_count
        Inclusive range of the number of satellites of a patient who has them.
    satellite_radius_mm, satellite_gap_mm
        Uniform ranges of the satellite's radius and of its gap to the tumour surface (mm).
    intercept, gamma_satellite, gamma_heterogeneity, gamma_age
        Logistic coefficients of the ``abnormal`` label.
    """

    satellite_probability: float = 0.5
    satellite_count: tuple[int, int] = (2, 4)
    satellite_radius_mm: tuple[float, float] = (4.0, 6.0)
    satellite_gap_mm: tuple[float, float] = (2.0, 5.0)
    intercept: float = -2.5
    gamma_satellite: float = 5.0
    gamma_heterogeneity: float = 1.0
    gamma_age: float = 0.5

    def validate(self) -> None:
        """Ranges of the satellite parameters (types are checked by the settings base)."""
        if not 0.0 < float(self.satellite_probability) < 1.0:
            raise ConfigError(
                f"satellite_probability must be in (0, 1), got {self.satellite_probability!r}",
                fix="use e.g. satellite_probability=0.5",
            )
        for name in ("satellite_radius_mm", "satellite_gap_mm"):
            lo, hi = getattr(self, name)
            if not (0.0 < float(lo) <= float(hi) <= 20.0):
                raise ConfigError(
                    f"{name} must be a range (lo, hi) with 0 < lo <= hi <= 20 mm, got "
                    f"{getattr(self, name)!r}",
                    fix=f"use e.g. {name}={getattr(DiagnosisModel, name)!r}",
                )
        lo, hi = self.satellite_count
        if not (1 <= int(lo) <= int(hi) <= 10):
            raise ConfigError(
                f"satellite_count must be (lo, hi) with 1 <= lo <= hi <= 10, got "
                f"{self.satellite_count!r}",
                fix="use e.g. satellite_count=(2, 4)",
            )


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_arguments(
    n_patients, seed, shape, spacing, n_sites, horizon, censoring, model
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    if not _is_int(n_patients) or n_patients < 2:
        raise ConfigError(
            f"n_patients must be an integer >= 2, got {n_patients!r}",
            fix="ask for at least 2 patients (survival models need both arms), e.g. n_patients=100",
        )
    if not _is_int(seed) or seed < 0:
        raise ConfigError(
            f"seed must be a non-negative integer, got {seed!r}", fix="pass e.g. seed=0"
        )
    try:
        shape_t = tuple(int(v) for v in shape)
        ok_shape = len(shape_t) == 3 and all(_is_int(v) or float(v).is_integer() for v in shape)
    except (TypeError, ValueError):
        ok_shape = False
    if not ok_shape or min(shape_t) < 16:
        raise ConfigError(
            "the volume size must be three integers >= 16: size=(x, y, z), or the deprecated "
            f"shape=(z, y, x); got shape (z, y, x) = {shape!r}",
            fix="use e.g. size=(64, 64, 48)",
        )
    try:
        spacing_t = tuple(float(v) for v in spacing)
        ok_spacing = len(spacing_t) == 3 and all(math.isfinite(v) and v > 0 for v in spacing_t)
    except (TypeError, ValueError):
        ok_spacing = False
    if not ok_spacing:
        raise ConfigError(
            f"spacing must be three positive numbers in mm in (x, y, z) order, got {spacing!r}",
            fix="use e.g. spacing=(0.8, 0.8, 2.5)",
        )
    if not _is_int(n_sites) or n_sites < 1:
        raise ConfigError(
            f"n_sites must be a positive integer, got {n_sites!r}",
            fix="use e.g. n_sites=3 (1 for a single-site cohort)",
        )
    if not isinstance(horizon, (int, float, np.number)) or not (
        math.isfinite(horizon) and horizon > 0
    ):
        raise ConfigError(
            f"horizon must be a positive number of months, got {horizon!r}",
            fix="use e.g. horizon=24.0 (months)",
        )
    if (
        not isinstance(censoring, (int, float, np.number))
        or not math.isfinite(censoring)
        or not 0.0 <= censoring <= 0.9
    ):
        raise ConfigError(
            f"censoring must be a fraction between 0 and 0.9, got {censoring!r}",
            fix="use e.g. censoring=0.3 for about 30 % censored patients (0 for none)",
        )
    if not isinstance(model, SyntheticModel):
        raise ConfigError(
            f"model must be a SyntheticModel, got {type(model).__name__}",
            fix="pass SyntheticModel(...) or leave model=None for the defaults",
        )
    # the largest tumour must fit in the field of view
    nz, ny, nx = shape_t
    sx, sy, sz = spacing_t
    half = min(nz * sz, ny * sy, nx * sx) / 2.0
    need = (
        _phantom.max_tumour_radius_mm(model.volume_range_mm3[1], model.irregularity_range[1])
        + _phantom.MARGIN_MM
    )
    if need > half:
        raise ConfigError(
            f"the field of view (shape {shape_t} x spacing {spacing_t} mm) is too small for the "
            f"largest tumour (radius up to {need:.1f} mm, half field of view {half:.1f} mm)",
            fix="use a larger shape or spacing, or a smaller model.volume_range_mm3",
        )
    return shape_t, spacing_t  # type: ignore[return-value]


def _prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            "out_dir exists and is a file, not a folder",
            path=out,
            fix="pass a folder path (it is created when absent)",
        )
    try:
        for sub in ("", "images", "masks"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the output folder: {exc.strerror or exc}",
            path=out,
            fix="choose a folder you can write to",
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(
            "the output folder is not writable",
            path=out,
            fix="choose a folder you can write to, or change its permissions",
        )
    return out


# ----------------------------------------------------------------------------------------
# the generative model
# ----------------------------------------------------------------------------------------


def _draw_patients(
    rng: np.random.Generator, n: int, n_sites: int, model: SyntheticModel
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patient-level latent variables (one row per patient) and the site table."""
    sites = pd.DataFrame(
        {
            "batch": [f"site{k + 1}" for k in range(n_sites)],
            "site_shift_hu": np.round(rng.normal(0.0, model.site_shift_sd_hu, n_sites), 2),
            "site_noise_sd_hu": np.round(rng.uniform(*model.site_noise_range_hu, n_sites), 2),
        }
    )
    site_index = rng.permutation(np.arange(n) % n_sites)
    treatment = rng.permutation(np.arange(n) % 2)  # 1:1 block randomisation
    age = np.rint(np.clip(rng.normal(model.age_mean, model.age_sd, n), *model.age_range))
    male = rng.random(n) < model.male_probability
    stage = rng.choice(np.arange(1, 5), size=n, p=np.asarray(model.stage_probabilities))
    log_vol = np.clip(
        rng.normal(math.log(model.volume_median_mm3), model.volume_log_sd, n),
        *np.log(model.volume_range_mm3),
    )
    irregularity = rng.uniform(*model.irregularity_range, n)
    intensity = rng.normal(model.intensity_mean_hu, model.intensity_sd_hu, n)
    heterogeneity = rng.uniform(*model.heterogeneity_range_hu, n)
    width = max(3, len(str(n - 1)))
    df = pd.DataFrame(
        {
            "patient_id": [f"SYN{i:0{width}d}" for i in range(n)],
            "batch": sites["batch"].to_numpy()[site_index],
            "site_shift_hu": sites["site_shift_hu"].to_numpy()[site_index],
            "site_noise_sd_hu": sites["site_noise_sd_hu"].to_numpy()[site_index],
            "treatment": treatment.astype(int),
            "age": age.astype(int),
            "sex": np.where(male, "M", "F"),
            "stage": stage.astype(int),
            "volume_mm3": np.exp(log_vol),
            "irregularity": irregularity,
            "intensity_mean": intensity,
            "heterogeneity": heterogeneity,
        }
    )
    return df, sites


def _standardise(df: pd.DataFrame, model: SyntheticModel) -> pd.DataFrame:
    raw = {
        "log_volume": np.log(df["volume_mm3"].to_numpy()),
        "irregularity": df["irregularity"].to_numpy(),
        "intensity_mean": df["intensity_mean"].to_numpy(),
        "heterogeneity": df["heterogeneity"].to_numpy(),
        "age": df["age"].to_numpy(float),
        "stage": df["stage"].to_numpy(float),
        "male": (df["sex"] == "M").to_numpy(float),
    }
    out = pd.DataFrame(index=df.index)
    for name, (m, s) in model.standardisation().items():
        out[f"z_{name}"] = (raw[name] - m) / s
    return out


def _treatment_log_hr(heterogeneity: np.ndarray, model: SyntheticModel) -> np.ndarray:
    lo, hi = model.heterogeneity_range_hu
    h01 = np.clip((heterogeneity - lo) / (hi - lo), 0.0, 1.0)
    a, b = model.treatment_log_hr_homogeneous, model.treatment_log_hr_heterogeneous
    return a + (b - a) * h01


def _weibull_survival(t, eta, model: SyntheticModel) -> np.ndarray:
    """$S(t \\mid \\eta) = \\exp(-(t/\\lambda)^k e^{\\eta})$ (broadcasts)."""
    return np.exp(-((np.asarray(t) / model.weibull_scale) ** model.weibull_shape) * np.exp(eta))


@functools.lru_cache(maxsize=4)
def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    return roots_legendre(n)


def _expected_censored_fraction(rate: float, eta: np.ndarray, model: SyntheticModel) -> float:
    """Mean over patients of P(C < T) for C ~ Exponential(rate), T ~ Weibull-PH(eta).

    P(C < T | eta) = 1 - E[exp(-rate T)], integrated over the quantile u of T by
    Gauss-Legendre quadrature: T(u) = lambda (-ln u / e^eta)^(1/k).
    """
    if rate <= 0:
        return 0.0
    nodes, weights = _leggauss(256)
    u = (nodes + 1.0) / 2.0
    w = weights / 2.0
    t = model.weibull_scale * (-np.log(u)[None, :] / np.exp(eta)[:, None]) ** (
        1.0 / model.weibull_shape
    )
    return float(np.mean(1.0 - np.exp(-rate * t) @ w))


def _calibrate_censoring(target: float, eta: np.ndarray, model: SyntheticModel) -> float:
    """Exponential censoring rate (per month) whose expected censored fraction is ``target``."""
    if target <= 0:
        return 0.0

    def gap(log_rate: float) -> float:
        return _expected_censored_fraction(math.exp(log_rate), eta, model) - target

    return float(math.exp(brentq(gap, math.log(1e-9), math.log(1e4), xtol=1e-12)))


def _rmst_difference(eta1, eta0, horizon: float, model: SyntheticModel) -> np.ndarray:
    """Restricted mean survival time difference up to ``horizon`` (Gauss-Legendre)."""
    nodes, weights = _leggauss(64)
    t = (nodes + 1.0) / 2.0 * horizon
    w = weights / 2.0 * horizon
    s1 = _weibull_survival(t[None, :], np.asarray(eta1)[:, None], model)
    s0 = _weibull_survival(t[None, :], np.asarray(eta0)[:, None], model)
    return (s1 - s0) @ w


def _simulate_outcomes(
    rng: np.random.Generator,
    df: pd.DataFrame,
    z: pd.DataFrame,
    model: SyntheticModel,
    horizon: float,
    censoring: float,
) -> tuple[pd.DataFrame, float]:
    """True hazards, benefit, response probabilities and the observed outcomes."""
    beta = model.hazard_coefficients()
    prognostic = sum(coef * z[name].to_numpy() for name, coef in beta.items())
    tau = _treatment_log_hr(df["heterogeneity"].to_numpy(), model)
    a = df["treatment"].to_numpy()
    eta0 = prognostic
    eta1 = prognostic + tau
    eta = np.where(a == 1, eta1, eta0)
    s0 = _weibull_survival(horizon, eta0, model)
    s1 = _weibull_survival(horizon, eta1, model)

    alpha = model.response_coefficients()
    lin_r = alpha["intercept"] + sum(
        coef * z[name].to_numpy() for name, coef in alpha.items() if name.startswith("z_")
    )
    p0 = expit(lin_r)
    p1 = expit(lin_r + alpha["treatment"])
    p = np.where(a == 1, p1, p0)

    n = len(df)
    u = 1.0 - rng.random(n)  # in (0, 1]
    event_time = model.weibull_scale * (-np.log(u) / np.exp(eta)) ** (1.0 / model.weibull_shape)
    rate = _calibrate_censoring(censoring, eta, model)
    censor_time = rng.exponential(1.0 / rate, n) if rate > 0 else np.full(n, np.inf)
    response = (rng.random(n) < p).astype(int)
    # observed times are rounded to 1e-4 months and kept > 0
    event_time = np.maximum(np.round(event_time, 4), 1e-4)
    censor_time = np.maximum(np.round(censor_time, 4), 1e-4)
    event = event_time <= censor_time
    out = pd.DataFrame(
        {
            "treatment_log_hr": tau,
            "log_hazard": eta,
            "log_hazard_control": eta0,
            "log_hazard_treated": eta1,
            "surv_horizon_control": s0,
            "surv_horizon_treated": s1,
            "benefit": s1 - s0,
            "rmst_benefit": _rmst_difference(eta1, eta0, horizon, model),
            "p_response": p,
            "p_response_control": p0,
            "p_response_treated": p1,
            "event_time": event_time,
            "censor_time": censor_time,
            "time": np.where(event, event_time, censor_time),
            "event": event.astype(int),
            "response": response,
        },
        index=df.index,
    )
    return out, rate


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------


def _to_sitk(array: np.ndarray, spacing_xyz: tuple[float, float, float]):
    """Numpy ``(z, y, x)`` array -> SimpleITK image centred on the origin."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing_xyz)
    size_xyz = array.shape[::-1]
    img.SetOrigin(tuple(-(n - 1) / 2.0 * s for n, s in zip(size_xyz, spacing_xyz, strict=True)))
    return img


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _progress_iter(items, progress: bool, description: str):
    if not progress:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=description, total=len(items))


def _resolve_size(size, shape) -> Any:
    """The volume size in numpy order ``(z, y, x)`` from ``size`` (x, y, z) or legacy ``shape``."""
    if size is not None and shape is not None:
        raise ConfigError(
            f"pass either size (x, y, z) or the deprecated shape (z, y, x), not both "
            f"(size={size!r}, shape={shape!r})",
            fix=f"drop shape and pass size={tuple(shape)[::-1]!r}"
            if len(tuple(shape)) == 3
            else "drop shape",
        )
    if shape is not None:
        warnings.warn(
            "make_synthetic_cohort(shape=(z, y, x)) is deprecated: pass size=(x, y, z), the "
            "order of spacing and of image.GetSize()",
            DeprecationWarning,
            stacklevel=3,
        )
        return shape
    if size is None:
        return (48, 64, 64)
    try:
        size_t = tuple(size)
    except TypeError:
        size_t = ()
    if len(size_t) != 3:
        raise ConfigError(
            f"size must be three integers >= 16 in (x, y, z) order, got {size!r}",
            fix="use e.g. size=(64, 64, 48)",
        )
    return size_t[::-1]


def _resolve_diagnosis(diagnosis) -> DiagnosisModel | None:
    if diagnosis is False or diagnosis is None:
        return None
    if diagnosis is True:
        return DiagnosisModel()
    if isinstance(diagnosis, DiagnosisModel):
        return diagnosis
    raise ConfigError(
        f"diagnosis must be True, False or a DiagnosisModel, got {type(diagnosis).__name__}",
        fix="pass diagnosis=True or diagnosis=DiagnosisModel(...)",
    )


def make_synthetic_cohort(
    out_dir: str | os.PathLike[str],
    n_patients: int = 100,
    seed: int = 0,
    *,
    size: tuple[int, int, int] | None = None,
    spacing: tuple[float, float, float] = (0.8, 0.8, 2.5),
    n_sites: int = 3,
    necrosis: bool = True,
    horizon: float = 24.0,
    censoring: float = 0.3,
    model: SyntheticModel | None = None,
    diagnosis: bool | DiagnosisModel = False,
    progress: bool = False,
    shape: tuple[int, int, int] | None = None,
) -> Path:
    """Write a synthetic cohort with known ground truth and return its manifest path.

    Each patient gets a CT-like volume (int16 HU; body, lung, spine, vessels and one tumour
    whose volume $V$, shape irregularity $\\iota$, mean intensity $\\mu$ and
    texture heterogeneity $h$ are drawn per patient) and one multi-label mask (1
    ``tumour``, 2 ``necrosis`` core in tumours of at least ``model.necrosis_min_volume_mm3``).
    Age, stage (1-4 for I-IV) and sex are drawn, treatment is randomised 1:1 and each site
    (``batch``) adds its own intensity shift and noise level.

    Survival times follow a Weibull proportional-hazards model,

    $$ S(t \\mid x, a) = \\exp\\left(-(t/\\lambda)^k \\, e^{\\eta_a(x)}\\right), \\quad
       \\eta_a(x) = \\beta^\\top z(x) + a\\,\\tau(h), \\quad
       \\tau(h) = \\tau_0 + (\\tau_1 - \\tau_0)\\frac{h - h_{min}}{h_{max} - h_{min}}, $$

    so the treatment helps heterogeneous tumours ($\\tau_1 = -2$) and homogeneous ones
    not at all ($\\tau_0 = 0$) by default. Censoring is independent exponential, with its
    rate calibrated so that the expected censored fraction equals ``censoring``. The response
    is Bernoulli with $\\operatorname{logit} p = \\alpha_0 + \\alpha^\\top z(x) +
    \\alpha_a a$.

    Files written (paths in the manifest are relative to ``out_dir``):

    - ``manifest.csv``: ``patient_id, image, mask, label, time, event, response, treatment,
      batch, age, stage, sex`` (one row per patient with ``label = 1``; label 2 exists in the
      masks of large tumours);
    - ``images/<id>_ct.nii.gz`` and ``masks/<id>_mask.nii.gz`` (label names in the sidecar
      ``masks/<id>_mask.labels.json``: ``{"1": "tumour", "2": "necrosis"}``, see
      :func:`radiopredict.imaging.label_sidecar_path`);
    - ``ground_truth.csv``: every latent variable and true quantity per patient (see
      :func:`load_synthetic_ground_truth`);
    - ``synthetic_info.json``: arguments, every model parameter, the true coefficients, the
      calibrated censoring rate and the site table.

    Parameters
    ----------
    out_dir
        Output folder, created when absent; files of an earlier run are overwritten.
    n_patients
        Number of patients (>= 2).
    seed
        Non-negative integer; the same seed and arguments give byte-identical files.
    size
        Volume size in voxels, ``(x, y, z)``; default ``(64, 64, 48)``. Every geometry argument
        is in SimpleITK / NIfTI order ``(x, y, z)``, like ``image.GetSize()`` and
        :class:`~radiopredict.embed.CropSettings`.
    spacing
        Voxel spacing in mm, ``(x, y, z)``.
    n_sites
        Number of sites (``batch`` values ``site1``, ``site2``, ...), assigned in balanced
        random order (sites beyond ``n_patients`` stay empty).
    necrosis
        Give large tumours a darker necrotic core (label 2).
    horizon
        Time (months) at which the true benefit $S(H \\mid 1) - S(H \\mid 0)$ and the
        restricted-mean-survival benefit are computed.
    censoring
        Target censored fraction, 0 to 0.9 (the realised fraction varies binomially).
    model
        Distributions and true coefficients (:class:`SyntheticModel`); defaults when None.
    diagnosis
        Add the diagnosis task (``True`` for the default :class:`DiagnosisModel`, or a
        :class:`DiagnosisModel`): satellite lesions drawn into the images outside the masks, the
        ``abnormal`` label and its truth in ``ground_truth.csv``, and
        ``manifest_diagnosis.csv``, the manifest with ``response`` replaced by the label (1 =
        abnormal) so that a binary model reads it as its target. ``False`` (default) leaves
        every file exactly as without this option.
    progress
        Show a rich progress bar.
    shape
        Deprecated: the volume size in numpy order ``(z, y, x)``, the reverse of ``size``;
        still accepted with a ``DeprecationWarning``. Passing both is an error.

    Returns
    -------
    pathlib.Path
        ``out_dir / "manifest.csv"``.

    Raises
    ------
    radiopredict.errors.ConfigError
        Bad argument, field of view too small for the largest tumour, or an output folder that
        is a file or cannot be written.
    """
    model = SyntheticModel() if model is None else model
    shape = _resolve_size(size, shape)
    diag = _resolve_diagnosis(diagnosis)
    shape_t, spacing_t = _check_arguments(
        n_patients, seed, shape, spacing, n_sites, horizon, censoring, model
    )
    out = _prepare_out_dir(out_dir)
    spacing_zyx = spacing_t[::-1]

    root = np.random.SeedSequence(seed)
    cohort_seq, image_seq = root.spawn(2)
    rng = np.random.default_rng(cohort_seq)
    df, sites = _draw_patients(rng, n_patients, n_sites, model)
    z = _standardise(df, model)
    outcomes, rate = _simulate_outcomes(rng, df, z, model, float(horizon), float(censoring))
    df["necrosis"] = bool(necrosis) & (df["volume_mm3"] >= model.necrosis_min_volume_mm3)

    from radiopredict.imaging import label_sidecar_path, write_image, write_mask

    if diag is not None:
        # a third child stream: the cohort and image streams, hence every default draw, are
        # those of a cohort without the diagnosis task
        diag_seq = root.spawn(1)[0]
        diag_rng = np.random.default_rng(diag_seq)
        satellite = diag_rng.random(n_patients) < diag.satellite_probability
        sat_seqs = diag_seq.spawn(n_patients)
    image_rows = []
    patient_seqs = image_seq.spawn(n_patients)
    for i in _progress_iter(range(n_patients), progress, "synthesising patients"):
        row = df.iloc[i]
        spec = _phantom.TumourSpec(
            volume_mm3=float(row["volume_mm3"]),
            irregularity=float(row["irregularity"]),
            intensity_mean=float(row["intensity_mean"]),
            heterogeneity=float(row["heterogeneity"]),
            necrosis=bool(row["necrosis"]),
            site_shift=float(row["site_shift_hu"]),
            site_noise=float(row["site_noise_sd_hu"]),
        )
        image, labels, props = _phantom.draw_phantom(
            spec, np.random.default_rng(patient_seqs[i]), shape_t, spacing_zyx
        )
        if diag is not None:
            props["satellite"] = int(satellite[i])
            props["satellite_count"] = 0
            if satellite[i]:
                sat_rng = np.random.default_rng(sat_seqs[i])
                count = int(sat_rng.integers(diag.satellite_count[0], diag.satellite_count[1] + 1))
                drawn = [
                    _phantom.add_satellite(
                        image,
                        labels,
                        sat_rng,
                        spacing_zyx,
                        radius_mm=float(sat_rng.uniform(*diag.satellite_radius_mm)),
                        gap_mm=float(sat_rng.uniform(*diag.satellite_gap_mm)),
                        intensity=spec.intensity_mean + spec.site_shift,
                        noise_sd=float(np.hypot(spec.heterogeneity, spec.site_noise)),
                    )
                    for _ in range(count)
                ]
                props["satellite_count"] = count
                props["satellite_voxels"] = sum(d["satellite_voxels"] for d in drawn)
                props.update({k: v for k, v in drawn[0].items() if k != "satellite_voxels"})
        pid = row["patient_id"]
        image_rel = f"images/{pid}_ct.nii.gz"
        mask_rel = f"masks/{pid}_mask.nii.gz"
        write_image(_to_sitk(image, spacing_t), out / image_rel)
        write_mask(_to_sitk(labels, spacing_t), out / mask_rel, LABEL_NAMES)
        image_rows.append({"image": image_rel, "mask": mask_rel, **props})
    images = pd.DataFrame(image_rows, index=df.index)

    manifest = pd.concat([df, images[["image", "mask"]], outcomes], axis=1)
    manifest["label"] = 1
    manifest = manifest[MANIFEST_COLUMNS]
    manifest_path = out / "manifest.csv"
    manifest.to_csv(manifest_path, index=False, float_format="%.4f", lineterminator="\n")

    truth = pd.concat([df, z, images, outcomes], axis=1)
    if diag is not None:
        lin = (
            diag.intercept
            + diag.gamma_satellite * truth["satellite"].to_numpy(float)
            + diag.gamma_heterogeneity * z["z_heterogeneity"].to_numpy()
            + diag.gamma_age * z["z_age"].to_numpy()
        )
        truth["p_abnormal"] = expit(lin)
        truth["abnormal"] = (diag_rng.random(n_patients) < truth["p_abnormal"]).astype(int)
        diag_manifest = manifest.copy()
        diag_manifest["response"] = truth["abnormal"].to_numpy()
        diag_manifest.to_csv(
            out / "manifest_diagnosis.csv", index=False, float_format="%.4f", lineterminator="\n"
        )
    truth.to_csv(out / "ground_truth.csv", index=False, float_format="%.10g", lineterminator="\n")

    from radiopredict._version import __version__

    info = {
        "generator": "radiopredict.datasets.make_synthetic_cohort",
        "radiopredict_version": __version__,
        "arguments": {
            "n_patients": n_patients,
            "seed": seed,
            "shape_zyx": list(shape_t),
            "spacing_xyz_mm": list(spacing_t),
            "n_sites": n_sites,
            "necrosis": bool(necrosis),
            "horizon": float(horizon),
            "censoring": float(censoring),
        },
        "time_unit": "months",
        "horizon": float(horizon),
        "labels": {str(k): v for k, v in LABEL_NAMES.items()},
        "model": {f.name: getattr(model, f.name) for f in fields(model)},
        "standardisation": {
            k: {"centre": m, "scale": s} for k, (m, s) in model.standardisation().items()
        },
        "hazard_coefficients": model.hazard_coefficients(),
        "treatment_log_hr": {
            "at_heterogeneity_min": model.treatment_log_hr_homogeneous,
            "at_heterogeneity_max": model.treatment_log_hr_heterogeneous,
            "heterogeneity_range_hu": list(model.heterogeneity_range_hu),
        },
        "response_coefficients": model.response_coefficients(),
        "censoring": {
            "distribution": "exponential, independent of everything else",
            "rate_per_month": rate,
            "target_fraction": float(censoring),
            "observed_fraction": float(1.0 - outcomes["event"].mean()),
        },
        "sites": sites.to_dict(orient="records"),
        "phantom": {
            "air_hu": _phantom.AIR_HU,
            "soft_tissue_hu": _phantom.SOFT_TISSUE_HU,
            "lung_hu": _phantom.LUNG_HU,
            "bone_hu": _phantom.BONE_HU,
            "necrosis_contrast_hu": _phantom.NECROSIS_CONTRAST_HU,
            "texture_correlation_mm": _phantom.TEXTURE_CORRELATION_MM,
            "shape_frequency": _phantom.SHAPE_FREQUENCY,
            "shape_terms": _phantom.SHAPE_TERMS,
            "radial_perturbation_clip_sd": _phantom.F_CLIP,
            "axis_ratio_clip": _phantom.ELONGATION_CLIP,
        },
        "files": {
            "manifest": "manifest.csv",
            "ground_truth": "ground_truth.csv",
            "images": "images/<patient_id>_ct.nii.gz",
            "masks": "masks/<patient_id>_mask.nii.gz",
            "mask_label_names": "masks/" + label_sidecar_path("<patient_id>_mask.nii.gz").name,
        },
    }
    if diag is not None:
        info["diagnosis"] = {
            "model": {f.name: getattr(diag, f.name) for f in fields(diag)},
            "manifest": "manifest_diagnosis.csv",
            "label": "abnormal (manifest_diagnosis.csv: response)",
            "prevalence": float(truth["abnormal"].mean()),
            "satellite_fraction": float(truth["satellite"].mean()),
        }
        info["files"]["manifest_diagnosis"] = "manifest_diagnosis.csv"
    (out / "synthetic_info.json").write_text(
        json.dumps(info, indent=2, default=_json_default) + "\n"
    )
    return manifest_path


def load_synthetic_ground_truth(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the ground truth written by :func:`make_synthetic_cohort`.

    Parameters
    ----------
    out_dir
        The cohort folder (or its ``manifest.csv``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``patient_id``, one row per patient. Columns: drawn latents (``volume_mm3``,
        ``irregularity``, ``intensity_mean``, ``heterogeneity``, ``age``, ``sex``, ``stage``,
        ``treatment``, ``batch``, site shift and noise, ``necrosis``), their standardised
        versions ``z_*``, image-level draws (centre, axis ratios, vessels, necrotic core ratio,
        voxel counts, ``mask_volume_mm3``), the true linear predictors ``log_hazard`` (assigned
        arm), ``log_hazard_control``, ``log_hazard_treated``, ``treatment_log_hr``, survival at
        the horizon under each arm, ``benefit`` and ``rmst_benefit``, ``p_response`` (assigned
        arm), ``p_response_control``, ``p_response_treated``, the uncensored ``event_time``,
        ``censor_time`` and the observed ``time``, ``event``, ``response``. The horizon and
        every parameter are in ``synthetic_info.json``.

    Raises
    ------
    radiopredict.errors.InputFileNotFoundError
        No ``ground_truth.csv`` in the folder.
    """
    p = Path(out_dir)
    folder = p.parent if p.is_file() else p
    path = folder / "ground_truth.csv"
    if not path.is_file():
        raise InputFileNotFoundError(
            "no ground_truth.csv in this folder",
            path=path,
            fix="pass the folder written by make_synthetic_cohort(out_dir), or create it first",
        )
    df = pd.read_csv(path, dtype={"patient_id": str, "batch": str, "sex": str})
    return df.set_index("patient_id")
