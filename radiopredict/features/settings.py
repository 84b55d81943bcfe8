"""Settings of the native IBSI feature engine.

:class:`FeatureSettings` is a frozen, validated dataclass. Every option of the IBSI-1 image
processing chain is a field: grid interpolation, resegmentation, discretisation, texture
aggregation and distances, intensity-volume histogram, and which families to compute. Load it from
YAML or a dict (an unknown key is an error that names the closest valid key), or start from a
preset (:meth:`FeatureSettings.preset`) and change fields with :meth:`FeatureSettings.replace`.

Spacings are given in millimetres in the ``(x, y, z)`` order of SimpleITK and of the IBSI manual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from radiopredict._settings import Settings, check_choice, check_keys, option
from radiopredict.errors import ConfigError

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


@dataclass(frozen=True)
class FeatureSettings(Settings):
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
    new_spacing: tuple[float, ...] | None = option(
        None, gt=0, fix="give the spacing in mm as [x, y, z], e.g. [1.0, 1.0, 1.0]"
    )
    interpolation_dims: str = option("3D", choices=("2D", "3D"))
    interpolator: str = option("linear", choices=_INTERPOLATORS)
    round_intensities: bool = False
    mask_interpolator: str = option("linear", choices=("linear", "nearest"))
    mask_threshold: float = option(
        0.5, gt=0, le=1, fix="use 0.5, the IBSI partial-volume threshold"
    )
    # resegmentation
    reseg_range: tuple[float | None, float | None] | None = option(
        None, fix="give [lower, upper], e.g. reseg_range: [-1000, 400]; null for an open bound"
    )
    reseg_outlier_sigma: float | None = option(
        None, gt=0, fix="use 3 (IBSI) or null to disable outlier resegmentation"
    )
    # discretisation
    discretisation: str = option("fbs", choices=_DISCRETISATIONS)
    bin_number: int = option(32, ge=1, fix="e.g. 32")
    bin_width: float = option(25.0, gt=0, fix="e.g. 25 for CT in HU")
    bin_lower_bound: float | None = None
    # intensity-volume histogram
    ivh_discretisation: str = option("none", choices=_DISCRETISATIONS)
    ivh_bin_width: float = option(2.5, gt=0, fix="e.g. 2.5 for CT in HU")
    ivh_bin_number: int = option(1000, ge=1, fix="e.g. 1000")
    # texture
    texture_dims: tuple[str, ...] = option(("3D",), choices=_TEXTURE_DIMS, aliases={"2.5D": "2_5D"})
    texture_aggregations: tuple[str, ...] = option(("avg", "comb"), choices=_AGGREGATIONS)
    glcm_distance: int = option(1, ge=1, fix="use 1")
    ngtdm_distance: int = option(1, ge=1, fix="use 1")
    ngldm_distance: int = option(1, ge=1, fix="use 1")
    ngldm_alpha: int = option(0, ge=0, fix="use 0")
    gldzm_distance_metric: str = option("manhattan", choices=_DISTANCE_METRICS)
    # morphology
    moran_geary: bool = True
    moran_geary_max_voxels: int | None = option(
        None, ge=2, fix="e.g. 20000, or null for the exact computation"
    )
    # what to compute
    families: tuple[str, ...] = option(ALL_FAMILIES, choices=ALL_FAMILIES, single=True)
    diagnostics: bool = False

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Rules that involve several fields."""
        if self.new_spacing is not None:
            need = (2, 3) if self.interpolation_dims == "2D" else (3,)
            if len(self.new_spacing) not in need:
                raise ConfigError(
                    f"new_spacing must have {' or '.join(map(str, need))} values for "
                    f"{self.interpolation_dims} interpolation, got {self.new_spacing!r}",
                    fix="give the spacing in mm as [x, y, z]",
                )
        if self.reseg_range is not None:
            lo, hi = self.reseg_range
            if lo is not None and hi is not None and lo > hi:
                raise ConfigError(
                    f"reseg_range lower bound {lo} exceeds upper bound {hi}",
                    fix="swap the two values",
                )
        if not self.texture_aggregations:
            raise ConfigError(
                "texture_aggregations is empty", fix="use a non-empty subset of ['avg', 'comb']"
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: Any = None) -> FeatureSettings:
        """Build settings from a mapping; an unknown key is a :class:`ConfigError`.

        A key ``preset`` starts from that preset and the other keys override it.
        """
        if isinstance(data, Mapping) and "preset" in data:
            data = dict(data)
            base = cls.preset(data.pop("preset")).to_dict()
            check_keys(data, cls.field_names(), where=cls.__name__, source=source)
            data = {**base, **data}
        return super().from_dict(data, source=source)

    @classmethod
    def preset(cls, name: str) -> FeatureSettings:
        """Named settings: ``ibsi-phantom``, ``ibsi-a`` ... ``ibsi-e``, ``ct``, ``mr``.

        ``ibsi-*`` reproduce the IBSI-1 digital phantom and CT phantom configurations A-E;
        ``ct`` and ``mr`` are sensible starting points for patient data (see :data:`PRESETS`).
        """
        check_choice(name, PRESETS, name="preset", where="feature settings")
        return cls(**PRESETS[name])

    @classmethod
    def coerce(cls, settings: Any) -> FeatureSettings:
        """Settings from a :class:`FeatureSettings`, a preset name, a YAML path, a mapping or
        None (defaults): the one way every engine and family receives its settings."""
        if settings is None:
            return cls()
        if isinstance(settings, cls):
            return settings
        if isinstance(settings, Mapping):
            return cls.from_dict(settings)
        if isinstance(settings, str | PathLike):
            path = Path(settings)
            if path.suffix.lower() in {".yaml", ".yml"} or path.is_file():
                return cls.from_yaml(path)
            return cls.preset(str(settings))
        raise ConfigError(
            f"feature settings must be FeatureSettings, a preset name, a YAML path or a "
            f"mapping, got {type(settings).__name__}",
            fix=f"use FeatureSettings(...) or one of the presets {', '.join(PRESETS)}",
        )

    # ------------------------------------------------------------------ derived
    @property
    def texture_families(self) -> tuple[str, ...]:
        """The enabled texture families."""
        return tuple(f for f in self.families if f in ALL_FAMILIES[5:])


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
