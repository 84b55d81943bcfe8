"""ComBat harmonisation as a scikit-learn transformer fitted inside the cross-validation folds.

The batch (scanner, site, protocol) and the covariates whose effect must be preserved are
*columns of X*: :class:`ComBat` reads ``batch_col`` (and drops it from its output by default),
reads the covariate columns (and passes them through unchanged), and harmonises the feature
columns. So it needs no side channel inside :class:`~sklearn.pipeline.Pipeline`,
:func:`~sklearn.model_selection.cross_validate` or :class:`~sklearn.model_selection.GridSearchCV`:
each fold fits the location/scale model on its training rows only and applies it to the test rows,
whose batches must have been seen in training.

Model (Johnson, Li and Rabinovic, *Biostatistics* 8 (2007) 118-127). For feature $g$, sample
$j$ of batch $i$:

$$ y_{ijg} = \\alpha_g + x_{ij}^\\top \\beta_g + \\gamma_{ig} + \\delta_{ig}\\,\\varepsilon_{ijg},
   \\qquad \\varepsilon_{ijg} \\sim N(0, \\sigma_g^2). $$

Ordinary least squares on the design ``[batch one-hot | covariates]`` gives $\\hat\\beta$; with
$n_i$ samples in batch $i$, $\\hat\\alpha_g = \\sum_i (n_i/n)\\hat\\gamma^{\\mathrm{ols}}_{ig}$ and
$\\hat\\sigma_g^2 = \\frac1n\\sum_{ij}(y_{ijg} - \\hat y_{ijg})^2$. The standardised data
$z_{ijg} = (y_{ijg} - \\hat\\alpha_g - x_{ij}^\\top\\hat\\beta_g)/\\hat\\sigma_g$ give per-batch
means $\\hat\\gamma_{ig}$ and variances $\\hat\\delta^2_{ig}$ (ddof 1). Empirical Bayes shrinks them
towards priors shared by all features of a batch: $\\gamma_{ig} \\sim N(\\bar\\gamma_i, \\tau_i^2)$
and $\\delta^2_{ig} \\sim \\text{InvGamma}(\\lambda_i, \\theta_i)$ with method-of-moments
hyper-parameters; the parametric posterior means are iterated to a fixed point

$$ \\gamma^*_{ig} = \\frac{n_i\\tau_i^2\\hat\\gamma_{ig} + \\delta^{2*}_{ig}\\bar\\gamma_i}
                         {n_i\\tau_i^2 + \\delta^{2*}_{ig}},\\qquad
   \\delta^{2*}_{ig} = \\frac{\\theta_i + \\tfrac12\\sum_j (z_{ijg} - \\gamma^*_{ig})^2}
                         {n_i/2 + \\lambda_i - 1}. $$

The non-parametric variant weights the other features' $(\\hat\\gamma, \\hat\\delta^2)$ by their
Gaussian likelihood of the feature's data. The harmonised value is

$$ y^*_{ijg} = \\hat\\sigma_g\\,\\frac{z_{ijg} - \\gamma^*_{ig}}{\\delta^*_{ig}}
               + \\hat\\alpha_g + x_{ij}^\\top\\hat\\beta_g . $$

The fit follows the reference implementations (sva::ComBat, neuroCombat); ``fit_transform`` on
the training data agrees with ``neuroCombat`` to 1e-6 (tested). ``transform`` of new rows uses the
fitted $\\hat\\alpha, \\hat\\beta, \\hat\\sigma, \\gamma^*, \\delta^*$ with the new rows' own covariates.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from radiopredict.errors import ConfigError, FeatureTableError
from radiopredict.fuse import GROUP_PREFIXES, _check_finite, _FrameTransformer, group_columns

__all__ = ["ComBat"]


class ComBat(_FrameTransformer, TransformerMixin, BaseEstimator):
    """ComBat harmonisation of feature columns across batches, preserving covariates.

    Parameters
    ----------
    batch_col
        Column of X holding the batch (scanner / site) label of each row.
    columns
        Columns to harmonise: ``"auto"`` (the ``radiomics`` group when X has ``rad__`` columns,
        else every column except the batch and covariates), a group name, or a list of names.
        Other columns pass through unchanged.
    categorical_covariates, continuous_covariates
        Columns of X whose effect is preserved (e.g. ``["clin__sex"]``, ``["clin__age"]``).
        They are passed through unchanged. Categorical levels unseen at fit are an error.
    parametric
        Parametric empirical Bayes (True) or the non-parametric Monte-Carlo-free variant.
    eb
        Use empirical Bayes shrinkage; False uses the per-batch location/scale estimates as is.
    mean_only
        Adjust only the batch means, not the variances.
    drop_batch
        Drop ``batch_col`` from the output (default); False passes it through.
    tol
        Convergence tolerance of the parametric fixed point: iteration stops when the largest
        relative change of $\\gamma^*$ and $\\delta^{2*}$ is below it (1e-4 and the change rule
        of sva::ComBat / neuroCombat by default).
    max_iter
        Maximum number of fixed-point iterations.
    on_constant
        What to do with a feature that is constant within a training batch (its batch variance
        cannot be estimated, common for discrete features in small folds): ``"raise"`` an error
        naming the features, or ``"skip"`` them: they pass through unharmonised, are listed in
        ``skipped_`` and a warning names them.

    Attributes
    ----------
    batches_ : ndarray
        Batch labels seen at fit (sorted).
    columns_ : list of str
        Harmonised columns.
    grand_mean_, var_pooled_ : ndarray of shape (n_columns,)
        $\\hat\\alpha$ and $\\hat\\sigma^2$.
    beta_ : ndarray of shape (n_covariate_terms, n_columns)
        Covariate coefficients $\\hat\\beta$ (empty when there are no covariates).
    gamma_star_, delta_star_ : ndarray of shape (n_batches, n_columns)
        Adjusted batch location and scale (variance) parameters.
    gamma_hat_, delta_hat_ : ndarray of shape (n_batches, n_columns)
        Per-batch estimates before shrinkage.
    n_iter_ : list of int
        Fixed-point iterations per batch (parametric EB only).
    skipped_ : list of str
        Features left unharmonised because they were constant within a batch
        (``on_constant="skip"``).
    """

    _numpy_dtype = None

    def __init__(
        self,
        batch_col: str = "batch",
        columns: str | Sequence[str] | None = "auto",
        categorical_covariates: Sequence[str] = (),
        continuous_covariates: Sequence[str] = (),
        parametric: bool = True,
        eb: bool = True,
        mean_only: bool = False,
        drop_batch: bool = True,
        tol: float = 1e-4,
        max_iter: int = 1000,
        on_constant: str = "raise",
    ) -> None:
        self.batch_col = batch_col
        self.columns = columns
        self.categorical_covariates = categorical_covariates
        self.continuous_covariates = continuous_covariates
        self.parametric = parametric
        self.eb = eb
        self.mean_only = mean_only
        self.drop_batch = drop_batch
        self.tol = tol
        self.max_iter = max_iter
        self.on_constant = on_constant

    # ------------------------------------------------------------------ helpers
    def _covariate_names(self) -> list[str]:
        return [str(c) for c in (*self.categorical_covariates, *self.continuous_covariates)]

    def _batch(self, df: pd.DataFrame) -> np.ndarray:
        if self.batch_col not in df.columns:
            raise FeatureTableError(
                f"ComBat: the batch column {self.batch_col!r} is not in X (columns: "
                f"{list(df.columns)[:8]}{' ...' if df.shape[1] > 8 else ''})",
                fix="add the scanner / site as a column (design_matrix(..., batch=...)) or set "
                "batch_col",
            )
        b = df[self.batch_col]
        if b.isna().any():
            rows = [str(i) for i in df.index[b.isna()][:10]]
            raise FeatureTableError(
                f"ComBat: batch is missing for rows {rows}",
                fix="fill in the scanner / site of every patient",
            )
        return b.astype(str).to_numpy()

    def _resolve_columns(self, df: pd.DataFrame) -> list[str]:
        reserved = {self.batch_col, *self._covariate_names()}
        for c in self._covariate_names():
            if c not in df.columns:
                raise FeatureTableError(
                    f"ComBat: covariate column {c!r} is not in X",
                    fix="add it to X or remove it from the covariates",
                )
        if self.columns == "auto":
            names = [c for c in df.columns if c not in reserved]
            rad = [c for c in names if c.startswith(GROUP_PREFIXES["radiomics"])]
            cols = rad or names
        else:
            cols = group_columns(df, self.columns, owner="ComBat")
        clash = [c for c in cols if c in reserved]
        if clash:
            raise ConfigError(
                f"ComBat: columns to harmonise include the batch / covariate column(s) {clash}",
                fix="leave them out of `columns`",
            )
        if not cols:
            raise ConfigError("ComBat: no column to harmonise", fix="set `columns`")
        return cols

    def _covariate_design(self, df: pd.DataFrame, *, fit: bool) -> np.ndarray:
        parts = []
        if fit:
            self.covariate_levels_ = {}
        for c in self.categorical_covariates:
            c = str(c)
            v = df[c]
            if v.isna().any():
                raise FeatureTableError(
                    f"ComBat: categorical covariate {c!r} has missing values in rows "
                    f"{[str(i) for i in df.index[v.isna()][:10]]}",
                    fix="impute or drop these rows before harmonising",
                )
            v = v.astype(str).to_numpy()
            if fit:
                self.covariate_levels_[c] = [str(v) for v in np.unique(v)]
            levels = np.asarray(self.covariate_levels_[c], dtype=object)
            unknown = sorted(set(v) - set(levels))
            if unknown:
                raise FeatureTableError(
                    f"ComBat: covariate {c!r} has level(s) {unknown} not seen at fit "
                    f"(seen: {list(levels)})",
                    fix="fit on data that contains every level",
                )
            onehot = (v[:, None] == levels[None, 1:]).astype(float)
            parts.append(onehot)
        for c in self.continuous_covariates:
            c = str(c)
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
            if not np.all(np.isfinite(v)):
                raise FeatureTableError(
                    f"ComBat: continuous covariate {c!r} has missing or non-numeric values in "
                    f"rows {[str(i) for i in df.index[~np.isfinite(v)][:10]]}",
                    fix="impute or drop these rows before harmonising",
                )
            parts.append(v[:, None])
        if not parts:
            return np.zeros((len(df), 0))
        return np.hstack(parts)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Estimate the location/scale model on the rows of ``X`` (one training fold).

        Parameters
        ----------
        X : DataFrame
            Feature columns plus ``batch_col`` and the covariate columns.
        y : ignored

        Returns
        -------
        self
        """
        df = self._frame(X, reset=True)
        batch = self._batch(df)
        cols = self._resolve_columns(df)
        _check_finite(df, cols, "ComBat")
        Y = df[cols].to_numpy(dtype=float)
        n, p = Y.shape
        batches, inverse, counts = np.unique(batch, return_inverse=True, return_counts=True)
        if len(batches) < 2:
            raise FeatureTableError(
                f"ComBat: X has a single batch ({batches[0]!r}); nothing to harmonise",
                fix="remove ComBat from the pipeline or check batch_col",
            )
        small = [str(b) for b, c in zip(batches, counts) if c < 2]
        if small:
            raise FeatureTableError(
                f"ComBat: batch(es) {small} have fewer than 2 samples in the training data; a "
                "batch variance cannot be estimated",
                fix="merge small batches or use a CV splitter stratified on batch "
                "(e.g. StratifiedKFold on the batch labels)",
            )
        if self.eb and p < 2:
            raise ConfigError(
                "ComBat: empirical Bayes needs at least 2 features to estimate the priors",
                fix="use eb=False",
            )
        const = np.vstack([np.ptp(Y[inverse == i], axis=0) == 0 for i in range(len(batches))])
        if self.on_constant not in ("raise", "skip"):
            raise ConfigError(
                f"ComBat: on_constant must be 'raise' or 'skip', got {self.on_constant!r}",
                fix="use on_constant='skip' to pass such features through unharmonised",
            )
        self.skipped_ = []
        if self.on_constant == "skip" and const.any():
            bad = const.any(axis=0)
            self.skipped_ = [c for c, b in zip(cols, bad) if b]
            warnings.warn(
                f"ComBat: {len(self.skipped_)} feature(s) constant within a batch pass through "
                f"unharmonised: {self.skipped_[:10]}",
                stacklevel=2,
            )
            cols = [c for c, b in zip(cols, bad) if not b]
            Y = Y[:, ~bad]
            p = Y.shape[1]
            const = const[:, ~bad]
            if p == 0:
                raise FeatureTableError(
                    "ComBat: every feature is constant within a batch; nothing to harmonise",
                    fix="remove ComBat from the pipeline or merge the batches",
                )
        if const.any() and not self.mean_only:
            bi, fi = np.nonzero(const)
            pairs = [f"{cols[f]} in batch {batches[b]!r}" for b, f in zip(bi, fi)][:10]
            raise FeatureTableError(
                f"ComBat: {int(const.sum())} feature(s) are constant within a batch: {pairs}",
                fix="remove these features (VarianceFilter) or merge the batch",
            )
        onehot = (inverse[:, None] == np.arange(len(batches))[None, :]).astype(float)
        cov = self._covariate_design(df, fit=True)
        design = np.hstack([onehot, cov])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise FeatureTableError(
                "ComBat: the covariates are confounded with the batch (the design "
                "[batch | covariates] is rank deficient)",
                fix="drop covariates that are constant within batches or identical to the batch",
            )
        B = np.linalg.solve(design.T @ design, design.T @ Y)
        nb = len(batches)
        grand_mean = (counts / n) @ B[:nb]
        var_pooled = np.mean((Y - design @ B) ** 2, axis=0)
        zero = var_pooled <= 0
        if zero.any():
            raise FeatureTableError(
                "ComBat: column(s) with zero residual variance (constant after removing batch "
                f"and covariate means): {[c for c, z in zip(cols, zero) if z][:10]}",
                fix="remove near-constant features first (VarianceFilter)",
            )
        beta = B[nb:]
        mod_mean = cov @ beta
        s = (Y - grand_mean - mod_mean) / np.sqrt(var_pooled)

        gamma_hat = np.vstack([s[inverse == i].mean(axis=0) for i in range(nb)])
        if self.mean_only:
            delta_hat = np.ones((nb, p))
        else:
            delta_hat = np.vstack([s[inverse == i].var(axis=0, ddof=1) for i in range(nb)])
            const = delta_hat <= 0
            if const.any():
                bi, fi = np.nonzero(const)
                pairs = [f"{cols[f]} in batch {batches[b]!r}" for b, f in zip(bi, fi)][:10]
                raise FeatureTableError(
                    f"ComBat: {int(const.sum())} feature(s) are constant within a batch: {pairs}",
                    fix="remove these features (VarianceFilter) or merge the batch",
                )
        self.n_iter_ = []
        if not self.eb:
            gamma_star, delta_star = gamma_hat.copy(), delta_hat.copy()
        elif self.parametric:
            ss = _sum_squares(s, inverse, gamma_hat)
            gamma_star, delta_star = self._parametric(gamma_hat, delta_hat, ss, counts, batches)
        else:
            gamma_star, delta_star = self._nonparametric(s, inverse, gamma_hat, delta_hat)

        self.batches_ = batches
        self.columns_ = cols
        self.grand_mean_ = grand_mean
        self.var_pooled_ = var_pooled
        self.beta_ = beta
        self.gamma_hat_ = gamma_hat
        self.delta_hat_ = delta_hat
        self.gamma_star_ = gamma_star
        self.delta_star_ = delta_star
        return self

    def _parametric(self, gamma_hat, delta_hat, ss, counts, names):
        """The parametric EB fixed point from sufficient statistics: per batch, the sums
        ``ss`` of squared deviations of the standardised data from ``gamma_hat`` (so that
        :math:`\\sum_j (z_{ij} - \\gamma)^2 = ss_i + n_i (\\hat\\gamma_i - \\gamma)^2`); the
        federated ComBat (:mod:`radiopredict.federated.combat`) calls it on summed
        statistics."""
        nb, p = gamma_hat.shape
        gamma_bar = gamma_hat.mean(axis=1)
        t2 = gamma_hat.var(axis=1, ddof=1)
        gamma_star = np.empty_like(gamma_hat)
        delta_star = np.empty_like(delta_hat)
        for i in range(nb):
            n = counts[i]
            if self.mean_only:
                gamma_star[i] = (t2[i] * gamma_hat[i] + gamma_bar[i]) / (t2[i] + 1.0)
                delta_star[i] = 1.0
                self.n_iter_.append(0)
                continue
            d = delta_hat[i]
            m, v = d.mean(), d.var(ddof=1)
            a = (2 * v + m**2) / v
            b = (m * v + m**3) / v
            g_old, d_old = gamma_hat[i].copy(), d.copy()
            n_iter = 0
            for _ in range(self.max_iter):
                n_iter += 1
                g_new = (t2[i] * n * gamma_hat[i] + d_old * gamma_bar[i]) / (t2[i] * n + d_old)
                sum2 = ss[i] + n * (gamma_hat[i] - g_new) ** 2
                d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
                # convergence rule of sva::ComBat and neuroCombat (relative change, signed
                # denominator), kept as is so that results agree with the references
                change = max(
                    np.max(np.abs(g_new - g_old) / g_old),
                    np.max(np.abs(d_new - d_old) / d_old),
                )
                g_old, d_old = g_new, d_new
                if change <= self.tol:
                    break
            else:
                warnings.warn(
                    f"ComBat: the empirical Bayes fixed point of batch {names[i]!r} did "
                    f"not converge in {self.max_iter} iterations (last change {change:.2g})",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            self.n_iter_.append(n_iter)
            gamma_star[i], delta_star[i] = g_old, d_old
        return gamma_star, delta_star

    def _nonparametric(self, s, inverse, gamma_hat, delta_hat):
        nb, p = gamma_hat.shape
        gamma_star = np.empty_like(gamma_hat)
        delta_star = np.empty_like(delta_hat)
        for i in range(nb):
            si = s[inverse == i]  # (n_i, p)
            n = si.shape[0]
            g, d = gamma_hat[i], delta_hat[i]
            # sum2[f, k] = sum_j (s_jf - g_k)^2, log-likelihood of feature f under prior k
            sum_x = si.sum(axis=0)
            sum_x2 = (si**2).sum(axis=0)
            sum2 = sum_x2[:, None] - 2 * sum_x[:, None] * g[None, :] + n * g[None, :] ** 2
            loglh = -0.5 * n * np.log(2 * np.pi * d)[None, :] - sum2 / (2 * d[None, :])
            np.fill_diagonal(loglh, -np.inf)  # leave the feature itself out
            w = np.exp(loglh - loglh.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            gamma_star[i] = w @ g
            delta_star[i] = w @ d
        return gamma_star, delta_star

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Harmonise the feature columns of rows from batches seen at fit.

        Parameters
        ----------
        X : DataFrame
            Same columns as at fit (batch and covariates included).

        Returns
        -------
        ndarray or DataFrame
            X with the harmonised columns replaced and ``batch_col`` dropped (if
            ``drop_batch``); a DataFrame after ``set_output(transform="pandas")``.
        """
        check_is_fitted(self, "gamma_star_")
        df = self._frame(X, reset=False)
        batch = self._batch(df)
        unknown = sorted(set(batch) - set(self.batches_))
        if unknown:
            raise FeatureTableError(
                f"ComBat: batch(es) {unknown} were not seen at fit (known: "
                f"{[str(b) for b in self.batches_]}); ComBat cannot harmonise a new batch",
                fix="include samples of every batch in the training data (stratify the CV "
                "splits on batch), or harmonise the new batch separately",
            )
        cols = self.columns_
        _check_finite(df, cols, "ComBat")
        Y = df[cols].to_numpy(dtype=float)
        idx = np.searchsorted(self.batches_, batch)
        mod_mean = self._covariate_design(df, fit=False) @ self.beta_
        sd = np.sqrt(self.var_pooled_)
        s = (Y - self.grand_mean_ - mod_mean) / sd
        adj = (s - self.gamma_star_[idx]) / np.sqrt(self.delta_star_[idx])
        out = df.copy()
        out[cols] = adj * sd + self.grand_mean_ + mod_mean
        if self.drop_batch:
            out = out.drop(columns=[self.batch_col])
        return self._output(out, X)

    def with_new_batches(self, X, *, min_samples: int = 10) -> ComBat:
        """A copy that can also harmonise the batches of ``X`` that were not seen at fit.

        The rule for a new site: its location and scale are estimated from its own rows of
        ``X``, standardised with the fitted $\\hat\\alpha$, $\\hat\\beta$ and $\\hat\\sigma$
        (which stay as learnt), and shrunk with the same empirical Bayes model as at fit (its
        priors from its own features), so the seen batches and the model after ComBat are
        unchanged. A new batch needs at least ``min_samples`` rows: fewer cannot estimate a
        per-feature mean and variance, and the batch is refused.

        Parameters
        ----------
        X : DataFrame
            Rows to harmonise later (only the rows of unseen batches are used).
        min_samples
            Smallest number of rows of a new batch.

        Returns
        -------
        ComBat
            ``self`` when every batch was seen, else a fitted copy with the new batches added.

        Raises
        ------
        FeatureTableError
            A new batch has fewer than ``min_samples`` rows; the message names it.
        """
        import copy

        check_is_fitted(self, "gamma_star_")
        df = self._frame(X, reset=False)
        batch = self._batch(df)
        new = sorted(set(batch) - set(self.batches_))
        if not new:
            return self
        small = {str(b): int((batch == b).sum()) for b in new if (batch == b).sum() < min_samples}
        if small:
            raise FeatureTableError(
                f"ComBat: site(s) {small} (patients per site) were not seen in training and have "
                f"fewer than {min_samples} patients, too few to estimate their scanner effect",
                fix=f"score at least {min_samples} patients of a new site together, or set the "
                "site (batch column) to the training site it matches",
            )
        cols = self.columns_
        _check_finite(df, cols, "ComBat")
        Y = df[cols].to_numpy(dtype=float)
        mod_mean = self._covariate_design(df, fit=False) @ self.beta_
        s = (Y - self.grand_mean_ - mod_mean) / np.sqrt(self.var_pooled_)
        rows = [batch == b for b in new]
        gamma_hat = np.vstack([s[r].mean(axis=0) for r in rows])
        counts = np.array([int(r.sum()) for r in rows])
        if self.mean_only:
            delta_hat = np.ones_like(gamma_hat)
        else:
            delta_hat = np.vstack([s[r].var(axis=0, ddof=1) for r in rows])
            delta_hat = np.where(delta_hat > 0, delta_hat, 1.0)  # constant in the new site
        inverse = np.full(len(batch), -1)
        for i, r in enumerate(rows):
            inverse[r] = i
        keep = inverse >= 0
        if not self.eb:
            g_star, d_star = gamma_hat, delta_hat
        elif self.parametric:
            ss = _sum_squares(s[keep], inverse[keep], gamma_hat)
            g_star, d_star = self._parametric(gamma_hat, delta_hat, ss, counts, np.array(new))
        else:
            g_star, d_star = self._nonparametric(s[keep], inverse[keep], gamma_hat, delta_hat)
        out = copy.deepcopy(self)
        batches = np.concatenate([self.batches_, np.array(new, dtype=self.batches_.dtype)])
        order = np.argsort(batches, kind="stable")
        out.batches_ = batches[order]
        out.gamma_hat_ = np.vstack([self.gamma_hat_, gamma_hat])[order]
        out.delta_hat_ = np.vstack([self.delta_hat_, delta_hat])[order]
        out.gamma_star_ = np.vstack([self.gamma_star_, g_star])[order]
        out.delta_star_ = np.vstack([self.delta_star_, d_star])[order]
        out.new_batches_ = [str(b) for b in new]
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Input column names, without ``batch_col`` when ``drop_batch``."""
        check_is_fitted(self, "gamma_star_")
        names = self._input_names(input_features)
        if self.drop_batch:
            names = names[names != self.batch_col]
        return names


def _sum_squares(s: np.ndarray, inverse: np.ndarray, gamma_hat: np.ndarray) -> np.ndarray:
    """Per batch, the sum of squared deviations of the standardised rows from ``gamma_hat``."""
    return np.vstack(
        [((s[inverse == i] - gamma_hat[i]) ** 2).sum(axis=0) for i in range(len(gamma_hat))]
    )
