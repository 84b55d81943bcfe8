"""Settings of the native IBSI feature engine.

:class:`FeatureSettings` is a frozen, validated dataclass. Every option of the IBSI-1 image
processing chain is a field: grid interpolation, resegmentation, discretisation, texture
aggregation and distances, intensity-volume histogram, and which families to compute. Load it from
YAML or a dict (an unknown key is an error that names the closest valid key), or start from a
preset (:meth:`FeatureSettings.preset`) and change fields with :meth:`FeatureSettings.replace`.

Spacings are given in millimetres in the ``(x, y, z)`` order of SimpleITK and of the IBSI manual.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from radiopredict.errors import ConfigError, InputFileNotFoundError

__all__ = ["FeatureSettings", "ALL_FAMILIES", "PRESETS"]

#: Every feature family the engine knows, in output order.
ALL_FAMILIES: tuple[str, ...] = (
    "morphology",
    "local_intensity",
    "intensity_stats",
    "intensity_histogram",
    "ivh",
    "glcm",
    "glrlm",
    "glszm",
    "gldzm",
    "ngtdm",
    "ngldm",
)

_TEXTURE_DIMS = ("2D", "2_5D", "3D")
_AGGREGATIONS = ("avg", "comb")
_INTERPOLATORS = ("linear", "cubic", "nearest")
_DISCRETISATIONS = ("fbn", "fbs", "none")
_DISTANCE_METRICS = ("manhattan", "chebyshev", "euclidean")


def _closest(word: str, options) -> str:
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.0)
    return match[0] if match else ""


@dataclass(frozen=True)
class FeatureSettings:
    """Settings of the IBSI-1 image processing chain and feature computation.

    Parameters
    ----------
    new_spacing
        Target voxel spacing in mm, ``(x, y, z)``; ``None`` keeps the original grid. With
        ``interpolation_dims="2D"`` only ``(x, y)`` is used (two values may be given) and the
        slice spacing is kept.
    interpolation_dims
        ``"3D"`` (volumetric) or ``"2D"`` (in-plane, slice by slice) interpolation.
    interpolator
        Image interpolator: ``"linear"``, ``"cubic"`` (cubic B-spline) or ``"nearest"``.
    round_intensities
        Round interpolated grey values to integers (IBSI rule for CT, whose values are integer).
    mask_interpolator
        Mask interpolator, ``"linear"`` or ``"nearest"``.
    mask_threshold
        Partial-volume threshold: an interpolated mask voxel belongs to the ROI when its value is
        at least this (IBSI: 0.5).
    reseg_range
        ``(lower, upper)`` intensity range of the intensity mask; either bound may be ``None``
        (open). ``None`` disables range resegmentation.
    reseg_outlier_sigma
        Remove voxels outside mean +- ``sigma`` standard deviations (IBSI: 3); applied after
        ``reseg_range`` when both are given. ``None`` disables it.
    discretisation
        ``"fbn"`` (fixed bin number), ``"fbs"`` (fixed bin size) or ``"none"`` (the grey values
        are already positive integers, as in the IBSI digital phantom).
    bin_number
        Number of bins for ``"fbn"``.
    bin_width
        Bin width for ``"fbs"``, in intensity units.
    bin_lower_bound
        Lower bound of the first bin for ``"fbs"``. ``None`` uses the IBSI rule: the lower bound
        of ``reseg_range`` when it has one, otherwise the minimum intensity in the ROI.
    ivh_discretisation, ivh_bin_width, ivh_bin_number
        Discretisation of the intensity-volume histogram (``"none"`` uses the grey values as
        they are, which must then be integers; ``"fbs"`` maps voxels to bin centres).
    texture_dims
        Texture aggregation dimensions, any of ``"2D"`` (per slice), ``"2_5D"`` (slices merged)
        and ``"3D"``. ``"2.5D"`` is accepted as an alias of ``"2_5D"``.
    texture_aggregations
        ``"avg"`` (features averaged over directions / slices) and/or ``"comb"`` (matrices merged
        before computing features) for GLCM and GLRLM.
    glcm_distance, ngtdm_distance, ngldm_distance
        Chebyshev neighbourhood distance in voxels.
    ngldm_alpha
        NGLDM coarseness parameter: neighbours within ``alpha`` grey levels count as dependent.
    gldzm_distance_metric
        Distance to the ROI border for GLDZM: ``"manhattan"`` (IBSI), ``"chebyshev"`` or
        ``"euclidean"``.
    moran_geary
        Compute Moran's I and Geary's C. The engine computes them exactly with an FFT
        autocorrelation on the voxel grid (O(n log n)), so large ROIs need no approximation;
        switch off to save the time altogether.
    moran_geary_max_voxels
        Approximation switch for very large ROIs, whose FFT grid (8 times the ROI bounding box)
        may not fit in memory: above this many intensity-mask voxels, Moran's I and Geary's C
        are estimated from a fixed-seed random subset of that many voxels (all pairs of the
        subset). ``None`` (default) always computes them exactly.
    families
        Feature families to compute (see :data:`ALL_FAMILIES`).
    diagnostics
        Also emit IBSI diagnostic values (image and mask dimensions, voxel counts and intensity
        summaries before and after interpolation and resegmentation).
    """

    # interpolation
    new_spacing: tuple[float, ...] | None = None
    interpolation_dims: str = "3D"
    interpolator: str = "linear"
    round_intensities: bool = False
    mask_interpolator: str = "linear"
    mask_threshold: float = 0.5
    # resegmentation
    reseg_range: tuple[float | None, float | None] | None = None
    reseg_outlier_sigma: float | None = None
    # discretisation
    discretisation: str = "fbs"
    bin_number: int = 32
    bin_width: float = 25.0
    bin_lower_bound: float | None = None
    # intensity-volume histogram
    ivh_discretisation: str = "none"
    ivh_bin_width: float = 2.5
    ivh_bin_number: int = 1000
    # texture
    texture_dims: tuple[str, ...] = ("3D",)
    texture_aggregations: tuple[str, ...] = ("avg", "comb")
    glcm_distance: int = 1
    ngtdm_distance: int = 1
    ngldm_distance: int = 1
    ngldm_alpha: int = 0
    gldzm_distance_metric: str = "manhattan"
    # morphology
    moran_geary: bool = True
    moran_geary_max_voxels: int | None = None
    # what to compute
    families: tuple[str, ...] = field(default=ALL_FAMILIES)
    diagnostics: bool = False

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = object.__setattr__
        # normalise sequences to tuples so that settings stay hashable and YAML-friendly
        for name in ("new_spacing", "reseg_range", "texture_dims", "texture_aggregations"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
                    raise ConfigError(
                        f"setting {name!r} must be a list, got {value!r}",
                        fix=f"give {name} as a list, e.g. {_EXAMPLES[name]}",
                    )
                set_(self, name, tuple(value))
        fams = self.families
        if isinstance(fams, str):
            fams = (fams,)
        set_(self, "families", tuple(fams))
        if self.texture_dims is not None:
            set_(self, "texture_dims", tuple(str(d).replace(".", "_") for d in self.texture_dims))

        self._check_choice("interpolation_dims", ("2D", "3D"))
        self._check_choice("interpolator", _INTERPOLATORS)
        self._check_choice("mask_interpolator", ("linear", "nearest"))
        self._check_choice("discretisation", _DISCRETISATIONS)
        self._check_choice("ivh_discretisation", _DISCRETISATIONS)
        self._check_choice("gldzm_distance_metric", _DISTANCE_METRICS)
        for d in self.texture_dims:
            if d not in _TEXTURE_DIMS:
                raise ConfigError(
                    f"texture_dims contains {d!r}, which is not a texture aggregation",
                    fix=f"use any of {list(_TEXTURE_DIMS)} (did you mean {_closest(d, _TEXTURE_DIMS)!r}?)",
                )
        for a in self.texture_aggregations:
            if a not in _AGGREGATIONS:
                raise ConfigError(
                    f"texture_aggregations contains {a!r}",
                    fix=f"use any of {list(_AGGREGATIONS)} (did you mean {_closest(a, _AGGREGATIONS)!r}?)",
                )
        for f in self.families:
            if f not in ALL_FAMILIES:
                raise ConfigError(
                    f"families contains unknown family {f!r}",
                    fix=f"use names from {list(ALL_FAMILIES)} (did you mean {_closest(f, ALL_FAMILIES)!r}?)",
                )
        if self.new_spacing is not None:
            need = (2, 3) if self.interpolation_dims == "2D" else (3,)
            if len(self.new_spacing) not in need:
                raise ConfigError(
                    f"new_spacing must have {' or '.join(map(str, need))} values for "
                    f"{self.interpolation_dims} interpolation, got {self.new_spacing!r}",
                    fix="give the spacing in mm as [x, y, z]",
                )
            for s in self.new_spacing[: 2 if self.interpolation_dims == "2D" else 3]:
                if not _positive(s):
                    raise ConfigError(
                        f"new_spacing values must be positive numbers, got {self.new_spacing!r}",
                        fix="give the spacing in mm, e.g. [1.0, 1.0, 1.0]",
                    )
        if not (0.0 < float(self.mask_threshold) <= 1.0):
            raise ConfigError(
                f"mask_threshold must lie in (0, 1], got {self.mask_threshold!r}",
                fix="use 0.5, the IBSI partial-volume threshold",
            )
        if self.reseg_range is not None:
            if len(self.reseg_range) != 2:
                raise ConfigError(
                    f"reseg_range must be [lower, upper], got {self.reseg_range!r}",
                    fix="e.g. reseg_range: [-1000, 400]; use null for an open bound",
                )
            lo, hi = self.reseg_range
            if lo is not None and hi is not None and float(lo) > float(hi):
                raise ConfigError(
                    f"reseg_range lower bound {lo} exceeds upper bound {hi}",
                    fix="swap the two values",
                )
        if self.reseg_outlier_sigma is not None and not _positive(self.reseg_outlier_sigma):
            raise ConfigError(
                f"reseg_outlier_sigma must be a positive number, got {self.reseg_outlier_sigma!r}",
                fix="use 3 (IBSI) or null to disable outlier resegmentation",
            )
        for name in ("bin_number", "ivh_bin_number"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}", fix="e.g. 32")
        for name in ("bin_width", "ivh_bin_width"):
            if not _positive(getattr(self, name)):
                raise ConfigError(
                    f"{name} must be a positive number, got {getattr(self, name)!r}",
                    fix="e.g. 25 for CT in HU",
                )
        for name in ("glcm_distance", "ngtdm_distance", "ngldm_distance"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}", fix="use 1")
        mgv = self.moran_geary_max_voxels
        if mgv is not None and (isinstance(mgv, bool) or not isinstance(mgv, int) or mgv < 2):
            raise ConfigError(
                f"moran_geary_max_voxels must be an integer >= 2 or null, got {mgv!r}",
                fix="e.g. 20000, or null for the exact computation",
            )
        if isinstance(self.ngldm_alpha, bool) or not isinstance(self.ngldm_alpha, int):
            raise ConfigError(
                f"ngldm_alpha must be an integer >= 0, got {self.ngldm_alpha!r}", fix="use 0"
            )
        if self.ngldm_alpha < 0:
            raise ConfigError(
                f"ngldm_alpha must be an integer >= 0, got {self.ngldm_alpha!r}", fix="use 0"
            )

    def _check_choice(self, name: str, options) -> None:
        value = getattr(self, name)
        if value not in options:
            raise ConfigError(
                f"setting {name}={value!r} is not one of {list(options)}",
                fix=f"did you mean {_closest(value, options)!r}?",
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every setting."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSettings:
        """Build settings from a mapping; an unknown key is a :class:`ConfigError`.

        A key ``preset`` starts from that preset and the other keys override it.
        """
        if not isinstance(data, dict):
            raise ConfigError(
                f"feature settings must be a mapping, got {type(data).__name__}",
                fix="write the settings as 'key: value' lines",
            )
        data = dict(data)
        base: dict[str, Any] = {}
        if "preset" in data:
            base = cls.preset(data.pop("preset")).to_dict()
        valid = cls.field_names()
        for key in data:
            if key not in valid:
                raise ConfigError(
                    f"unknown feature setting {key!r}",
                    fix=f"did you mean {_closest(key, valid)!r}? Valid settings: {', '.join(valid)}",
                )
        base.update(data)
        return cls(**base)

    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> FeatureSettings:
        """Read settings from a YAML file (keys as in :meth:`to_dict`, optional ``preset``)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise InputFileNotFoundError(
                "feature settings file does not exist", path=path, fix="check the path"
            )
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"cannot parse YAML: {exc}", path=path, fix="fix the YAML syntax"
            ) from exc
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(exc.problem, path=path, fix=exc.fix) from exc

    @classmethod
    def preset(cls, name: str) -> FeatureSettings:
        """Named settings: ``ibsi-phantom``, ``ibsi-a`` ... ``ibsi-e``, ``ct``, ``mr``.

        ``ibsi-*`` reproduce the IBSI-1 digital phantom and CT phantom configurations A-E;
        ``ct`` and ``mr`` are sensible starting points for patient data (see :data:`PRESETS`).
        """
        if name not in PRESETS:
            raise ConfigError(
                f"unknown feature settings preset {name!r}",
                fix=f"did you mean {_closest(name, PRESETS)!r}? Presets: {', '.join(PRESETS)}",
            )
        return cls(**PRESETS[name])

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python mapping (lists, numbers, strings) that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def to_yaml(self, path: str | PathLike[str] | None = None) -> str:
        """The settings as YAML text; also written to ``path`` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def replace(self, **changes: Any) -> FeatureSettings:
        """A copy with some fields changed (validated; unknown names raise :class:`ConfigError`)."""
        valid = self.field_names()
        for key in changes:
            if key not in valid:
                raise ConfigError(
                    f"unknown feature setting {key!r}",
                    fix=f"did you mean {_closest(key, valid)!r}?",
                )
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ derived
    @property
    def texture_families(self) -> tuple[str, ...]:
        """The enabled texture families."""
        return tuple(f for f in self.families if f in ALL_FAMILIES[5:])


def _positive(x: Any) -> bool:
    try:
        return (not isinstance(x, bool)) and math.isfinite(float(x)) and float(x) > 0
    except (TypeError, ValueError):
        return False


_EXAMPLES = {
    "new_spacing": "[1.0, 1.0, 1.0]",
    "reseg_range": "[-1000, 400]",
    "texture_dims": "['3D']",
    "texture_aggregations": "['avg', 'comb']",
}

_IBSI_COMMON: dict[str, Any] = dict(
    round_intensities=True,
    glcm_distance=1,
    ngtdm_distance=1,
    ngldm_distance=1,
    ngldm_alpha=0,
    diagnostics=True,
)

#: Preset name -> field values.
PRESETS: dict[str, dict[str, Any]] = {
    # IBSI-1 digital phantom: grey levels used as they are, every texture aggregation.
    "ibsi-phantom": dict(
        discretisation="none",
        ivh_discretisation="none",
        texture_dims=("2D", "2_5D", "3D"),
        glcm_distance=1,
        ngtdm_distance=1,
        ngldm_distance=1,
        ngldm_alpha=0,
    ),
    # IBSI-1 CT phantom, configurations A-E (Zwanenburg et al., IBSI reference manual, table 5.1).
    "ibsi-a": dict(
        _IBSI_COMMON,
        reseg_range=(-500.0, 400.0),
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="none",
        texture_dims=("2D", "2_5D"),
    ),
    "ibsi-b": dict(
        _IBSI_COMMON,
        new_spacing=(2.0, 2.0),
        interpolation_dims="2D",
        interpolator="linear",
        reseg_range=(-500.0, 400.0),
        discretisation="fbn",
        bin_number=32,
        ivh_discretisation="none",
        texture_dims=("2D", "2_5D"),
    ),
    "ibsi-c": dict(
        _IBSI_COMMON,
        new_spacing=(2.0, 2.0, 2.0),
        interpolator="linear",
        reseg_range=(-1000.0, 400.0),
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="fbs",
        ivh_bin_width=2.5,
        texture_dims=("3D",),
    ),
    "ibsi-d": dict(
        _IBSI_COMMON,
        new_spacing=(2.0, 2.0, 2.0),
        interpolator="linear",
        reseg_outlier_sigma=3.0,
        discretisation="fbn",
        bin_number=32,
        ivh_discretisation="none",
        texture_dims=("3D",),
    ),
    "ibsi-e": dict(
        _IBSI_COMMON,
        new_spacing=(2.0, 2.0, 2.0),
        interpolator="cubic",
        reseg_range=(-1000.0, 400.0),
        reseg_outlier_sigma=3.0,
        discretisation="fbn",
        bin_number=32,
        ivh_discretisation="fbn",
        ivh_bin_number=1000,
        texture_dims=("3D",),
    ),
    # Patient CT: 1 mm isotropic, soft-tissue-to-bone range, 25 HU bins.
    "ct": dict(
        new_spacing=(1.0, 1.0, 1.0),
        interpolator="linear",
        round_intensities=True,
        reseg_range=(-1000.0, 3000.0),
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="fbs",
        ivh_bin_width=2.5,
        texture_dims=("3D",),
    ),
    # Patient MR: arbitrary units, so outlier filtering and a fixed bin number.
    "mr": dict(
        new_spacing=(1.0, 1.0, 1.0),
        interpolator="linear",
        reseg_outlier_sigma=3.0,
        discretisation="fbn",
        bin_number=32,
        ivh_discretisation="fbn",
        ivh_bin_number=1000,
        texture_dims=("3D",),
    ),
}
