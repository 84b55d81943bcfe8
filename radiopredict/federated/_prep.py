"""The preprocessing a site applies locally before a step: impute, harmonise, standardise.

The server sends the fitted parameters in every request (they are aggregates: means, variances,
ComBat location / scale per batch), so the site steps stay stateless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radiopredict.federated.protocol import SiteData, SiteRefusedError

__all__ = ["Prep"]


@dataclass
class Prep:
    """Fitted local preprocessing.

    Attributes
    ----------
    columns
        Feature columns used, in order.
    impute
        Mean per column used for missing values (None: missing values are an error).
    batches
        ComBat batch labels (empty: no ComBat).
    combat
        ComBat arrays ``grand_mean``, ``var_pooled`` (p,), ``gamma_star``, ``delta_star`` (nb, p).
    mean, scale
        Standardisation (None: none).
    """

    columns: list[str]
    impute: np.ndarray | None = None
    batches: list[str] = field(default_factory=list)
    combat: dict[str, np.ndarray] = field(default_factory=dict)
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    # ------------------------------------------------------------------ transport
    def to_request(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and config entries that carry this preprocessing in a request."""
        arrays: dict[str, np.ndarray] = {}
        if self.impute is not None:
            arrays["prep.impute"] = self.impute
        for k, v in self.combat.items():
            arrays[f"prep.combat.{k}"] = v
        if self.mean is not None:
            arrays["prep.mean"] = self.mean
            arrays["prep.scale"] = self.scale
        config = {"prep.columns": list(self.columns), "prep.batches": list(self.batches)}
        return arrays, config

    @classmethod
    def from_request(cls, arrays: dict, config: dict) -> Prep:
        """Inverse of :meth:`to_request`."""
        combat = {
            k.split(".", 2)[2]: np.asarray(v)
            for k, v in arrays.items()
            if k.startswith("prep.combat.")
        }
        return cls(
            columns=[str(c) for c in config["prep.columns"]],
            impute=arrays.get("prep.impute"),
            batches=[str(b) for b in config.get("prep.batches", [])],
            combat=combat,
            mean=arrays.get("prep.mean"),
            scale=arrays.get("prep.scale"),
        )

    # ------------------------------------------------------------------ apply
    def apply(self, site: SiteData, *, allow_missing: bool = False) -> np.ndarray:
        """The site's preprocessed feature matrix (n, p)."""
        missing = [c for c in self.columns if c not in site.features.columns]
        if missing:
            raise SiteRefusedError(
                f"lacks feature column(s) {missing[:10]}",
                site=site.name,
                fix="compute the features with the study's shared settings",
            )
        X = site.features[self.columns].to_numpy(dtype=float)
        if self.impute is not None:
            X = np.where(np.isnan(X), self.impute[None, :], X)
        elif not allow_missing and np.isnan(X).any():
            cols = [c for c, b in zip(self.columns, np.isnan(X).any(axis=0)) if b]
            raise SiteRefusedError(
                f"has missing values in {cols[:10]}",
                site=site.name,
                fix="let the study impute them (impute=True) or fill them in at the site",
            )
        if self.combat:
            unknown = sorted(set(site.batch) - set(self.batches))
            if unknown:
                raise SiteRefusedError(
                    f"has batch(es) {unknown} unknown to the fitted ComBat",
                    site=site.name,
                    fix="fit ComBat with this site's batches",
                )
            idx = np.searchsorted(np.asarray(self.batches), site.batch)
            gm, vp = self.combat["grand_mean"], self.combat["var_pooled"]
            sd = np.sqrt(vp)
            s = (X - gm) / sd
            X = (s - self.combat["gamma_star"][idx]) / np.sqrt(self.combat["delta_star"][idx])
            X = X * sd + gm
        if self.mean is not None:
            X = (X - self.mean) / self.scale
        return X
