"""A whole federated study: checks, imputation, variance filter, ComBat, Cox, baseline,
validation, logistic response model, leave-one-site-out; and its pooled reference.

:func:`federated_study` is one server step built from the algorithm steps; :func:`run_study`
drives it with a runner (in-process or Flower) and handles sites that drop out;
:func:`pooled_reference` fits the same chain with the project's pooled estimators on the pooled
rows (possible only in simulation), and :func:`compare` gives the largest absolute difference per
algorithm (``comparison.csv``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import ConfigError
from radiopredict.federated import combat as fcombat
from radiopredict.federated import cox as fcox
from radiopredict.federated import logistic as flogistic
from radiopredict.federated import stats as fstats
from radiopredict.federated import validation as fval
from radiopredict.federated._prep import Prep
from radiopredict.federated.protocol import (
    FederatedError,
    Request,
    ServerStep,
    SiteData,
    SiteDroppedError,
    parallel,
    total,
)

__all__ = [
    "FederatedSettings",
    "FederatedResult",
    "federated_study",
    "run_study",
    "pooled_reference",
    "compare",
    "model_pipeline",
]


@dataclass(frozen=True)
class FederatedSettings:
    """Settings of a federated study (frozen; saved with the results).

    Attributes
    ----------
    alpha, l1_ratio
        Cox elastic-net penalty (lifelines' convention, as :class:`radiopredict.models.CoxPH`).
    C
        Inverse L2 penalty of the logistic response model (``inf``: none).
    combat
        Harmonise the features across batches with federated ComBat.
    variance_threshold
        Drop features whose variance (after mean imputation, ddof 0) is not above this.
    min_events, min_positive
        Refuse a site with fewer events (survival) / fewer responders or non-responders.
    min_cell
        Smallest non-zero count a site sends in a validation table (smaller cells are merged).
    horizon
        Calibration time (None: the middle of the follow-up).
    n_time_bins, n_risk_bins
        Starting bins of the validation tables.
    response
        Also fit the logistic response model (sites need a ``response`` column).
    loso
        Run leave-one-site-out validation.
    stratified
        Also fit the site-stratified Cox model (reported next to the unstratified one).
    validate
        Compute the binned Kaplan-Meier, C-index and calibration.
    on_dropout
        ``"stop"`` (raise, naming the site) or ``"continue"`` (restart without it).
    dp_epsilon, dp_delta
        Gaussian-mechanism differential privacy on the validation count tables (None: off).
    settings_hash
        The agreed feature-settings hash (None: the first site's).
    """

    alpha: float = 0.0
    l1_ratio: float = 0.0
    C: float = 1.0
    combat: bool = True
    variance_threshold: float = 0.0
    min_events: int = 10
    min_positive: int = 5
    min_cell: int = 5
    horizon: float | None = None
    n_time_bins: int = 10
    n_risk_bins: int = 5
    response: bool = True
    loso: bool = True
    stratified: bool = True
    validate: bool = True
    on_dropout: str = "stop"
    dp_epsilon: float | None = None
    dp_delta: float = 1e-5
    settings_hash: str | None = None

    def __post_init__(self) -> None:
        if self.on_dropout not in ("stop", "continue"):
            raise ConfigError(
                f"on_dropout must be 'stop' or 'continue', got {self.on_dropout!r}",
                fix="use on_dropout='continue' to finish with the remaining sites",
            )
        if self.min_cell < 1:
            raise ConfigError(f"min_cell must be >= 1, got {self.min_cell}", fix="use e.g. 5")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


@dataclass
class FederatedResult:
    """Everything a federated study fitted (aggregates only)."""

    sites: list[str]
    columns: list[str]
    kept: list[str]
    impute_mean: np.ndarray
    variances: np.ndarray
    combat: Any
    scale_mean: np.ndarray
    scale_sd: np.ndarray
    cox: fcox.CoxFit
    cox_stratified: fcox.CoxFit | None
    baseline: Any
    validation: fval.BinnedValidation | None
    logistic: flogistic.LogisticFit | None
    loso: pd.DataFrame
    settings: FederatedSettings
    horizon: float = float("nan")
    dropped: list[str] = field(default_factory=list)

    @property
    def prep(self) -> Prep:
        """The fitted local preprocessing (impute, ComBat) of the kept columns."""
        return _prep_of(self.kept, self.impute_mean, self.combat)


def _prep_of(kept, impute, combat) -> Prep:
    if combat is None:
        return Prep(list(kept), impute=impute)
    return Prep(
        list(kept),
        impute=impute,
        batches=[str(b) for b in combat.batches_],
        combat={
            "grand_mean": combat.grand_mean_,
            "var_pooled": combat.var_pooled_,
            "gamma_star": combat.gamma_star_,
            "delta_star": combat.delta_star_,
        },
    )


def dp_sigma(epsilon: float, delta: float) -> float:
    """Noise SD of the Gaussian mechanism for a count table (one patient changes one cell of
    the events-or-censorings table by 1: L2 sensitivity 1), (epsilon, delta)-DP for
    epsilon < 1: sigma = sqrt(2 ln(1.25 / delta)) / epsilon (Dwork & Roth 2014, Thm A.1)."""
    return float(np.sqrt(2 * np.log(1.25 / delta)) / epsilon)


def federated_study(settings: FederatedSettings, sites: list[str]) -> ServerStep:
    """Server step of the whole study over ``sites``; returns a :class:`FederatedResult`."""
    st = settings
    schema = yield from fstats.check_schema(
        settings_hash=st.settings_hash,
        min_events=st.min_events,
        min_positive=st.min_positive if st.response else 0,
    )
    cols = schema.columns
    raw = yield from fstats.moments(Prep(cols))
    impute = raw.mean
    variances = raw.var(ddof=0, imputed=True)
    keep = variances > st.variance_threshold
    kept = [c for c, k in zip(cols, keep) if k]
    if not kept:
        raise FederatedError(
            "every feature was removed by the variance filter", fix="lower variance_threshold"
        )
    impute_kept = impute[keep]
    cb = None
    if st.combat and len(schema.batches) > 1:
        cb = yield from fcombat.fit_combat(Prep(kept, impute=impute_kept), schema.batches)
    prep = _prep_of(kept, impute_kept, cb)
    mom = yield from fstats.moments(prep)
    mean, sd = mom.mean, np.sqrt(mom.var(ddof=1))
    # independent fits run in lockstep (one message round per Newton iteration for all)
    pen = {"alpha": st.alpha, "l1_ratio": st.l1_ratio}
    steps = [fcox.fit_cox(prep, mean, sd, mom.n, **pen)]
    if st.stratified:
        steps.append(fcox.fit_cox(prep, mean, sd, mom.n, stratified=True, **pen))
    if st.response:
        steps.append(flogistic.fit_logistic(prep, mean, sd, C=st.C))
    held_out = sites if st.loso and len(sites) > 2 else []
    plain = Prep(kept, impute=impute_kept)
    steps += [_leave_one_out(plain, held, sites, st) for held in held_out]
    fits = list((yield from parallel(*steps)))
    cox_fit = fits.pop(0)
    strat = fits.pop(0) if st.stratified else None
    logit = fits.pop(0) if st.response else None
    loso_rows = fits
    base = yield from fcox.breslow_baseline(prep, cox_fit.coef, cox_fit.times)
    horizon = st.horizon if st.horizon is not None else float(np.median(cox_fit.times))
    h0 = float(base.baseline_cumulative_hazard([horizon])[0])
    val = None
    if st.validate:
        val = yield from _validate(prep, cox_fit.coef, base, h0, horizon, st)
    return FederatedResult(
        sites=list(sites),
        columns=cols,
        kept=kept,
        impute_mean=impute_kept,
        variances=variances,
        combat=cb,
        scale_mean=mean,
        scale_sd=sd,
        cox=cox_fit,
        cox_stratified=strat,
        baseline=base,
        validation=val,
        logistic=logit,
        loso=pd.DataFrame(loso_rows, columns=["held_out", "cindex", "pairs", "rounds"]),
        settings=st,
        horizon=horizon,
    )


def _leave_one_out(plain: Prep, held: str, sites: list[str], st: FederatedSettings) -> ServerStep:
    """Fit on every site but ``held``, then ``held`` computes its own C-index."""
    others = [s for s in sites if s != held]
    m_o = yield from fstats.moments(plain, sites=others)
    fit_o = yield from fcox.fit_cox(
        plain,
        m_o.mean,
        np.sqrt(m_o.var(ddof=1)),
        m_o.n,
        alpha=st.alpha,
        l1_ratio=st.l1_ratio,
        sites=others,
    )
    arrays, config = plain.to_request()
    rep = yield Request("val.cindex_local", {**arrays, "coef": fit_o.coef}, config, sites=(held,))
    return {
        "held_out": held,
        "cindex": float(total(rep, "c")[0]),
        "pairs": int(total(rep, "pairs")[0]),
        "rounds": fit_o.n_rounds,
    }


def _validate(prep, coef, base, h0, horizon, st):
    r_mean, r_sd = yield from fval.risk_moments(prep, coef)
    return (
        yield from fval.validate_binned(
            prep,
            coef,
            base.offset_,
            h0,
            horizon,
            base.max_time_,
            r_mean,
            r_sd,
            n_time_bins=st.n_time_bins,
            n_risk_bins=st.n_risk_bins,
            min_cell=st.min_cell,
            dp_sigma=dp_sigma(st.dp_epsilon, st.dp_delta) if st.dp_epsilon else 0.0,
        )
    )


def run_study(runner, settings: FederatedSettings) -> FederatedResult:
    """Drive :func:`federated_study` with ``runner``; with ``on_dropout="continue"`` a site that
    stops answering is removed and the study restarts with the others (so the result is the
    pooled fit of the remaining sites)."""
    dropped: list[str] = []
    while True:
        sites = list(runner.site_names)
        if len(sites) < 2:
            raise FederatedError(
                f"fewer than two sites left ({sites}; dropped: {dropped})",
                fix="restart the missing sites",
            )
        try:
            result = runner.run(federated_study(settings, sites))
        except SiteDroppedError as exc:
            if settings.on_dropout != "continue":
                raise
            dropped.extend(exc.sites)
            runner.drop(exc.sites)
            continue
        result.dropped = dropped
        return result


# --------------------------------------------------------------------------- model


def model_pipeline(result: FederatedResult):
    """The fitted model as a scikit-learn Pipeline: ``[ComBat ->] CoxPH`` over the kept columns
    (plus ``batch`` when ComBat is used). Missing values must be imputed before (the imputation
    means are in the bundle metadata)."""
    from radiopredict.models import CoxPH, SurvivalPipeline

    st = result.settings
    cox = CoxPH(alpha=st.alpha, l1_ratio=st.l1_ratio)
    cox.coef_ = np.asarray(result.cox.coef, dtype=float)
    cox.baseline_ = result.baseline
    cox.n_features_in_ = len(result.kept)
    cox.feature_names_in_ = np.asarray(result.kept, dtype=object)
    steps = []
    if result.combat is not None:
        steps.append(("combat", result.combat))
    steps.append(("cox", cox))
    return SurvivalPipeline(steps)


def response_model(result: FederatedResult):
    """The fitted logistic model as :class:`radiopredict.models.ElasticNetLogistic` (L2)."""
    from sklearn.pipeline import Pipeline

    from radiopredict.models import ElasticNetLogistic

    if result.logistic is None:
        return None
    m = ElasticNetLogistic(C=result.settings.C, l1_ratio=0.0)
    m.coef_ = np.asarray(result.logistic.coef, dtype=float)
    m.intercept_ = float(result.logistic.intercept)
    m.classes_ = np.array([0, 1])
    m.n_features_in_ = len(result.kept)
    m.feature_names_in_ = np.asarray(result.kept, dtype=object)
    m.converged_ = result.logistic.converged
    steps = [("combat", result.combat)] if result.combat is not None else []
    return Pipeline([*steps, ("logistic", m)])


# --------------------------------------------------------------------------- pooled


def _pool(sites: list[SiteData]):
    X = pd.concat([s.features for s in sites], ignore_index=True)
    batch = np.concatenate([s.batch for s in sites])
    event = np.concatenate([s.event for s in sites]).astype(bool)
    time = np.concatenate([s.time for s in sites]).astype(float)
    resp = (
        np.concatenate([s.response for s in sites])
        if all(s.response is not None for s in sites)
        else None
    )
    site = np.concatenate([[s.name] * len(s.features) for s in sites])
    return X, batch, event, time, resp, site


def pooled_reference(sites: list[SiteData], result: FederatedResult) -> dict[str, Any]:
    """The same chain with the project's pooled estimators on the pooled rows (simulation only).

    Uses ``SimpleImputer``, :class:`~radiopredict.select.VarianceFilter`,
    :class:`~radiopredict.harmonize.ComBat`, :class:`~radiopredict.models.CoxPH` (lifelines),
    lifelines' stratified ``CoxPHFitter``, scikit-learn's ``LogisticRegression``, and
    :func:`~radiopredict.metrics.kaplan_meier` / :func:`~radiopredict.metrics.harrell_c` on the
    exact and on the binned data.
    """
    from lifelines import CoxPHFitter
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression

    from radiopredict.harmonize import ComBat
    from radiopredict.metrics import harrell_c, kaplan_meier
    from radiopredict.models import CoxPH
    from radiopredict.select import VarianceFilter
    from radiopredict.targets import make_survival_target

    st = result.settings
    used = [s for s in sites if s.name in result.sites]
    X, batch, event, time, resp, site = _pool(used)
    X = X[result.columns]
    imp = SimpleImputer(strategy="mean").fit(X)
    Xi = pd.DataFrame(imp.transform(X), columns=result.columns)
    vf = VarianceFilter(threshold=st.variance_threshold).fit(Xi)
    Xk = Xi[result.kept]
    if result.combat is not None:
        frame = Xk.assign(batch=batch)
        Xh = ComBat(batch_col="batch").fit_transform(frame)[result.kept]
    else:
        Xh = Xk
    y = make_survival_target(event, time)
    cox = CoxPH(alpha=st.alpha, l1_ratio=st.l1_ratio).fit(Xh.to_numpy(), y)
    d = Xh.copy()
    d["_T"], d["_E"], d["_S"] = time, event.astype(int), site
    strat = CoxPHFitter(penalizer=st.alpha, l1_ratio=st.l1_ratio).fit(d, "_T", "_E", strata=["_S"])
    out: dict[str, Any] = {
        "impute_mean": imp.statistics_,
        "variances": vf.variances_,
        "harmonized": Xh,
        "cox_coef": cox.coef_,
        "cox_stratified_coef": None if strat is None else strat.params_.to_numpy(),
        "baseline": cox.baseline_,
        "scale_mean": Xh.mean().to_numpy(),
        "scale_sd": Xh.std(ddof=1).to_numpy(),
    }
    risk = Xh.to_numpy() @ cox.coef_
    out["cindex_exact"] = harrell_c(y, risk)
    val = result.validation
    if val is None:
        val = fval.BinnedValidation(
            np.zeros(0), np.zeros(0), np.zeros(0), pd.DataFrame(), np.nan, pd.DataFrame(), np.nan
        )
    tb = fval.bin_index(time, val.time_edges)
    cb_t = fval.bin_index(time, val.cindex_time_edges)
    rb = fval.bin_index(risk, val.risk_edges)
    km_t, km_s = kaplan_meier(event, tb)
    out["km_binned"] = pd.Series(km_s, index=km_t)
    ex_t, ex_s = kaplan_meier(event, time)
    ends = val.time_edges
    idx = np.searchsorted(ex_t, ends, side="right") - 1
    out["km_exact_at_edges"] = np.where(idx >= 0, ex_s[np.clip(idx, 0, None)], 1.0)
    out["cindex_binned"] = harrell_c(make_survival_target(event, cb_t.astype(float)), rb)
    if result.logistic is not None and resp is not None:
        Z = (Xh.to_numpy() - out["scale_mean"]) / out["scale_sd"]
        lr = LogisticRegression(C=st.C, tol=1e-12, max_iter=10000).fit(Z, resp)
        coef = lr.coef_.ravel() / out["scale_sd"]
        out["logistic_coef"] = coef
        out["logistic_intercept"] = float(lr.intercept_[0] - coef @ out["scale_mean"])
    if len(result.loso):
        rows = []
        for held in result.loso["held_out"]:
            tr = site != held
            Xo = Xk[tr]
            fit = CoxPH(alpha=st.alpha, l1_ratio=st.l1_ratio).fit(
                Xo.to_numpy(), make_survival_target(event[tr], time[tr])
            )
            te = ~tr
            rows.append(
                harrell_c(make_survival_target(event[te], time[te]), Xk[te].to_numpy() @ fit.coef_)
            )
        out["loso_cindex"] = np.asarray(rows)
    return out


def compare(result: FederatedResult, pooled: dict[str, Any], sites: list[SiteData]) -> pd.DataFrame:
    """Largest absolute difference, federated vs pooled, per algorithm (``comparison.csv``)."""

    def diff(a, b) -> float:
        return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))

    used = [s for s in sites if s.name in result.sites]
    rows = [
        ("imputation_mean", diff(result.impute_mean, pooled["impute_mean"][_kidx(result)]), ""),
        ("variance_filter", diff(result.variances, pooled["variances"]), ""),
        ("standardisation_mean", diff(result.scale_mean, pooled["scale_mean"]), ""),
        ("standardisation_sd", diff(result.scale_sd, pooled["scale_sd"]), ""),
    ]
    if result.combat is not None:
        X, batch, *_ = _pool(used)
        frame = X[result.kept].fillna(pd.Series(result.impute_mean, index=result.kept))
        fed = result.combat.transform(frame.assign(batch=batch))[result.kept]
        rows.append(("combat", diff(fed.to_numpy(), pooled["harmonized"].to_numpy()), ""))
    rows.append(
        (
            "cox",
            diff(result.cox.coef, pooled["cox_coef"]),
            f"{result.cox.n_rounds} Newton rounds; vs radiopredict.models.CoxPH",
        )
    )
    if result.cox_stratified is not None:
        rows.append(
            (
                "cox_stratified",
                diff(result.cox_stratified.coef, pooled["cox_stratified_coef"]),
                f"{result.cox_stratified.n_rounds} rounds; vs lifelines CoxPHFitter(strata=site)",
            )
        )
    t = result.baseline.event_times_
    rows.append(
        (
            "breslow_baseline",
            diff(
                result.baseline.baseline_cumulative_hazard(t),
                pooled["baseline"].baseline_cumulative_hazard(t),
            ),
            "cumulative hazard at the event times",
        )
    )
    rows += _compare_validation(result, pooled, diff)
    if result.logistic is not None and "logistic_coef" in pooled:
        rows.append(
            (
                "logistic",
                max(
                    diff(result.logistic.coef, pooled["logistic_coef"]),
                    abs(result.logistic.intercept - pooled["logistic_intercept"]),
                ),
                f"{result.logistic.n_rounds} rounds; vs sklearn LogisticRegression",
            )
        )
    if len(result.loso):
        rows.append(("loso_cindex", diff(result.loso["cindex"], pooled["loso_cindex"]), ""))
    return pd.DataFrame(rows, columns=["algorithm", "max_abs_diff", "note"])


def _kidx(result: FederatedResult) -> np.ndarray:
    return np.array([result.columns.index(c) for c in result.kept])


def _compare_validation(result, pooled, diff) -> list[tuple]:
    if result.validation is None:
        return []
    rows = []
    km = result.validation.km["survival"].to_numpy()
    kb = pooled["km_binned"]
    km_pooled = np.array(
        [
            kb.iloc[np.searchsorted(kb.index, j, side="right") - 1] if j >= kb.index[0] else 1.0
            for j in range(len(km))
        ]
    )
    rows.append(("km_binned", diff(km, km_pooled), "vs pooled KM on the same bins"))
    rows.append(
        (
            "km_binned_vs_exact",
            diff(km[:-1], pooled["km_exact_at_edges"]),
            "binning cost at bin ends",
        )
    )
    rows.append(
        ("cindex_binned", abs(result.validation.cindex - pooled["cindex_binned"]), "same bins")
    )
    rows.append(
        (
            "cindex_binned_vs_exact",
            abs(result.validation.cindex - pooled["cindex_exact"]),
            "binning cost",
        )
    )
    return rows
