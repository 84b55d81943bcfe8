r"""IBSI-2 convolutional filters: mean, LoG, Laws, Gabor and separable wavelets, 2D and 3D.

Every filter follows the IBSI-2 reference manual (arXiv 2006.05470): kernels are defined in voxel
units (``sigma_mm / spacing``), filtering is a convolution, and the image is extended beyond its
border by one of the IBSI boundary conditions:

============  ======================================  ===========================
IBSI name     extension of ``a b c d``                 ``boundary=``
============  ======================================  ===========================
zero padding  ``0 0 | a b c d | 0 0``                 ``"constant"``
nearest       ``a a | a b c d | d d``                 ``"nearest"``
periodic      ``c d | a b c d | a b``                 ``"periodic"``
mirror        ``b a | a b c d | d c``                 ``"mirror"``
============  ======================================  ===========================

``dims="2D"`` filters each axial slice on its own (in-plane axes only); ``dims="3D"`` filters the
volume. Arrays are in SimpleITK/numpy order ``(z, y, x)``; IBSI's ``x`` is the last axis.

Filters
-------
mean
    :math:`h = \mathbf{1}/M^d` over a cube (square) of odd support :math:`M`.
log
    Laplacian of Gaussian, :math:`h(\mathbf{k}) = \sum_a \left(\frac{k_a^2}{\sigma_a^4} -
    \frac{1}{\sigma_a^2}\right) \prod_b \frac{1}{\sigma_b\sqrt{2\pi}}
    e^{-k_b^2/(2\sigma_b^2)}`, truncated at radius :math:`\lfloor c\,\sigma + 0.5\rfloor`
    (``cutoff`` :math:`c = 4`).
laws
    Separable products of the normalised 1D Laws kernels (``"E5L5S5"``: E5 along x, L5 along y,
    S5 along z); optional rotation invariance (max or average over the 24 right-angle
    rotations in 3D, 4 in 2D) and energy map :math:`E = \frac{1}{(2\delta+1)^d}\sum |R|`.
gabor
    :math:`h(x, y) = e^{-(\tilde x^2 + \gamma^2 \tilde y^2)/(2\sigma^2)} e^{i 2\pi \tilde x/\lambda}`,
    :math:`\tilde x = x\cos\theta + y\sin\theta`, :math:`\tilde y = -x\sin\theta + y\cos\theta`,
    response :math:`|I * h|` in the axial plane (``dims="2D"``) or averaged over the three
    orthogonal planes (``dims="3D"``); rotation invariance averages over
    :math:`\theta = 0, \Delta\theta, \ldots < 2\pi`.
wavelet
    Undecimated separable wavelets (PyWavelets' decomposition filters, à trous dilation for
    level > 1): a response map such as ``"LHL"`` (x, y, z) of level ``level``; rotation
    invariance averages over the 24 (3D) or 4 (2D) right-angle rotations.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import ndimage, signal

from radiopredict._settings import Settings
from radiopredict.errors import ConfigError

__all__ = [
    "FilterSpec",
    "apply_filter",
    "filter_array",
    "filter_radius",
    "filter_image_crop",
    "BOUNDARIES",
    "LAWS_KERNELS",
]

#: IBSI boundary condition -> scipy.ndimage mode.
BOUNDARIES = {"constant": "constant", "nearest": "nearest", "periodic": "wrap", "mirror": "reflect"}
_NP_PAD = {"constant": "constant", "nearest": "edge", "periodic": "wrap", "mirror": "symmetric"}

#: Normalised 1D Laws kernels (IBSI-2).
LAWS_KERNELS = {
    "L3": np.array([1, 2, 1]) / np.sqrt(6),
    "E3": np.array([-1, 0, 1]) / np.sqrt(2),
    "S3": np.array([-1, 2, -1]) / np.sqrt(6),
    "L5": np.array([1, 4, 6, 4, 1]) / np.sqrt(70),
    "E5": np.array([-1, -2, 0, 2, 1]) / np.sqrt(10),
    "S5": np.array([-1, 0, 2, 0, -1]) / np.sqrt(6),
    "W5": np.array([-1, 2, 0, -2, 1]) / np.sqrt(10),
    "R5": np.array([1, -4, 6, -4, 1]) / np.sqrt(70),
}
_KINDS = ("mean", "log", "laws", "gabor", "wavelet")


@dataclass(frozen=True)
class FilterSpec(Settings):
    """Settings of one IBSI-2 filter.

    Parameters
    ----------
    kind
        ``"mean"``, ``"log"``, ``"laws"``, ``"gabor"`` or ``"wavelet"``.
    boundary
        ``"constant"`` (zero), ``"nearest"``, ``"periodic"`` or ``"mirror"``.
    dims
        ``"2D"`` (per axial slice) or ``"3D"``.
    support
        Mean filter support :math:`M` (odd, voxels).
    sigma_mm
        LoG / Gabor scale in mm.
    cutoff
        LoG / Gabor truncation in units of sigma (IBSI: 4).
    kernels
        Laws kernel combination, e.g. ``"E5L5S5"`` (x, y, z) or ``"L5S5"`` in 2D.
    rotation_invariant, pooling
        Right-angle rotation invariance (Laws, wavelets) or :math:`\\theta` sweep (Gabor) and
        its pooling, ``"max"`` or ``"average"``.
    energy_distance
        Laws energy map Chebyshev distance :math:`\\delta` (None: no energy map).
    wavelength_mm, gamma, theta, theta_step
        Gabor wavelength :math:`\\lambda` (mm), aspect ratio, orientation (rad) and rotation
        step :math:`\\Delta\\theta` (rad) when rotation invariant.
    wavelet, response, level
        Wavelet name (PyWavelets: ``"haar"``, ``"db2"``, ``"coif1"``...), response map
        (``"LHL"``, x y z) and decomposition level.
    """

    kind: str
    boundary: str = "mirror"
    dims: str = "3D"
    support: int | None = None
    sigma_mm: float | None = None
    cutoff: float = 4.0
    kernels: str | None = None
    rotation_invariant: bool = False
    pooling: str = "max"
    energy_distance: int | None = None
    wavelength_mm: float | None = None
    gamma: float = 1.0
    theta: float = 0.0
    theta_step: float | None = None
    wavelet: str | None = None
    response: str | None = None
    level: int = 1

    def validate(self) -> None:
        """Rules of each filter kind (types and unknown keys are checked by the base)."""

        def bad(problem, fix):
            raise ConfigError(f"filter {self.kind!r}: {problem}", fix=fix)

        if self.kind not in _KINDS:
            bad(f"unknown kind {self.kind!r}", f"use one of {', '.join(_KINDS)}")
        if self.boundary not in BOUNDARIES:
            bad(f"unknown boundary {self.boundary!r}", f"use one of {', '.join(BOUNDARIES)}")
        if self.dims not in ("2D", "3D"):
            bad(f"dims must be '2D' or '3D', got {self.dims!r}", "use dims='2D' or dims='3D'")
        if self.pooling not in ("max", "average"):
            bad(f"pooling must be 'max' or 'average', got {self.pooling!r}", "use 'max'/'average'")
        if self.kind == "mean" and (not self.support or self.support % 2 == 0):
            bad(f"support must be an odd positive integer, got {self.support!r}", "e.g. 5")
        if self.kind in ("log", "gabor") and not (self.sigma_mm and self.sigma_mm > 0):
            bad("sigma_mm must be positive", "e.g. sigma_mm=1.5")
        if self.kind == "gabor" and not (self.wavelength_mm and self.wavelength_mm > 0):
            bad("wavelength_mm must be positive", "e.g. wavelength_mm=4")
        if self.kind == "laws":
            names = _split_laws(self.kernels or "")
            if len(names) != (2 if self.dims == "2D" else 3) or any(
                n not in LAWS_KERNELS for n in names
            ):
                bad(
                    f"kernels {self.kernels!r} must name one Laws kernel per axis ({self.dims})",
                    f"combine {', '.join(LAWS_KERNELS)}, e.g. 'E5L5S5' (3D) or 'L5S5' (2D)",
                )
        if self.kind == "wavelet":
            import pywt

            if self.wavelet not in pywt.wavelist(kind="discrete"):
                bad(f"unknown wavelet {self.wavelet!r}", "use e.g. 'haar', 'db2', 'coif1'")
            n = 2 if self.dims == "2D" else 3
            if not self.response or len(self.response) != n or set(self.response) - {"L", "H"}:
                bad(f"response {self.response!r} must be {n} letters L/H (x, y, z)", "e.g. 'LHL'")
            if self.level < 1:
                bad(f"level must be >= 1, got {self.level}", "use level=1")

    @property
    def name(self) -> str:
        """Short name used to prefix feature tags (``"log_s1.5"``, ``"laws_E5L5S5_e7"``)."""
        ri = "_ri" if self.rotation_invariant else ""
        dims = "_2D" if self.dims == "2D" else ""
        if self.kind == "mean":
            core = f"mean_m{self.support}"
        elif self.kind == "log":
            core = f"log_s{self.sigma_mm:g}"
        elif self.kind == "laws":
            energy = "" if self.energy_distance is None else f"_e{self.energy_distance}"
            core = f"laws_{self.kernels}{energy}"
        elif self.kind == "gabor":
            core = f"gabor_s{self.sigma_mm:g}_l{self.wavelength_mm:g}_g{self.gamma:g}"
        else:
            core = f"wavelet_{self.wavelet}_{self.response}{self.level}"
        return core + dims + ri

    def to_dict(self) -> dict[str, Any]:
        """Settings as a plain dict (for YAML, caching and provenance)."""
        return asdict(self)


def _split_laws(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(0, len(text), 2)]


# -- radius (support) of each filter, used for exact crops -----------------------------------
def filter_radius(spec: FilterSpec, spacing_zyx) -> np.ndarray:
    """Half-width (voxels, numpy order z, y, x) of the region a response voxel depends on."""
    spacing = np.asarray(spacing_zyx, dtype=float)
    axes = _axes(spec, len(spacing))
    r = np.zeros(len(spacing), dtype=int)
    if spec.kind == "mean":
        r[axes] = spec.support // 2
    elif spec.kind == "log":
        r[axes] = np.floor(spec.cutoff * spec.sigma_mm / spacing[axes] + 0.5).astype(int)
    elif spec.kind == "laws":
        width = max(len(LAWS_KERNELS[k]) for k in _split_laws(spec.kernels)) // 2
        r[axes] = width + (spec.energy_distance or 0)
    elif spec.kind == "gabor":
        gabor_axes = list(range(len(spacing))) if spec.dims == "3D" else axes
        r[gabor_axes] = max(_gabor_radius(spec, float(spacing[a])) for a in gabor_axes)
    else:
        import pywt

        length = pywt.Wavelet(spec.wavelet).dec_len
        r[axes] = sum(length * 2 ** (j - 1) for j in range(1, spec.level + 1))
    return r


def _axes(spec: FilterSpec, ndim: int) -> list[int]:
    return list(range(ndim - 2, ndim)) if spec.dims == "2D" else list(range(ndim))


# -- public API -------------------------------------------------------------------------------
def filter_array(array: np.ndarray, spec: FilterSpec, spacing_zyx) -> np.ndarray:
    """Response map of a numpy volume ``(z, y, x)`` (float64)."""
    data = np.asarray(array, dtype=np.float64)
    if data.ndim != 3:
        raise ConfigError(
            f"filters need a 3D volume (z, y, x), got {data.ndim} dimensions",
            fix="add a singleton slice axis for 2D images",
        )
    spacing = np.asarray(spacing_zyx, dtype=float)
    if spec.kind == "mean":
        return _separable(data, [np.ones(spec.support) / spec.support] * 3, spec)
    if spec.kind == "log":
        return _log(data, spec, spacing)
    if spec.kind == "laws":
        return _laws(data, spec)
    if spec.kind == "gabor":
        return _gabor(data, spec, spacing)
    return _wavelet(data, spec)


def apply_filter(image, spec: FilterSpec):
    """Response map of a ``SimpleITK.Image`` (same grid, Float64)."""
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(image)
    out = sitk.GetImageFromArray(filter_array(arr, spec, image.GetSpacing()[::-1]))
    out.CopyInformation(image)
    return out


def filter_image_crop(image, boxes, spec: FilterSpec, *, whole: bool = False):
    """Filter an image on the crop that covers ``boxes`` padded by the filter's support.

    The padding is the filter's full radius, so every voxel of the boxes has the same response
    as when the whole image is filtered. An axis where the padded crop would reach the image
    border keeps its full extent, so the boundary condition sees the image's own border.

    Parameters
    ----------
    image
        ``SimpleITK.Image``.
    boxes
        Bounding boxes ``(L_x, U_x, L_y, U_y, L_z, U_z)`` (inclusive voxel indices).
    spec
        The filter.
    whole
        Filter the whole image instead (the range then covers the image).

    Returns
    -------
    response, lower, upper
        Response map of the crop (``SimpleITK.Image`` with the crop's origin) and the crop's
        index range ``lower <= index < upper`` in (x, y, z) order.
    """
    import SimpleITK as sitk

    from radiopredict.features.engines.pyradiomics import crop_region

    size = np.array(image.GetSize())
    pad_xyz = filter_radius(spec, image.GetSpacing()[::-1])[::-1]
    lo, hi = crop_region(boxes, size, None if whole else pad_xyz, full_axis_at_border=True)
    crop = sitk.RegionOfInterest(image, [int(v) for v in hi - lo], [int(v) for v in lo])
    return apply_filter(crop, spec), lo, hi


# -- implementations ---------------------------------------------------------------------------
def _separable(data, kernels_zyx, spec, origins=None) -> np.ndarray:
    mode = BOUNDARIES[spec.boundary]
    out = data
    for axis in _axes(spec, data.ndim):
        k = kernels_zyx[axis]
        origin = 0 if origins is None else origins[axis]
        out = ndimage.convolve1d(out, k, axis=axis, mode=mode, cval=0.0, origin=origin)
    return out


def _gauss_terms(sigma: float, radius: int):
    k = np.arange(-radius, radius + 1, dtype=float)
    g = np.exp(-(k**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    return g, (k**2 / sigma**4 - 1 / sigma**2) * g


def _log(data, spec, spacing) -> np.ndarray:
    axes = _axes(spec, data.ndim)
    sig = spec.sigma_mm / spacing
    radius = filter_radius(spec, spacing)
    terms = {a: _gauss_terms(float(sig[a]), int(radius[a])) for a in axes}
    mode = BOUNDARIES[spec.boundary]
    total = np.zeros_like(data)
    for a in axes:
        out = data
        for b in axes:
            kernel = terms[b][1] if b == a else terms[b][0]
            out = ndimage.convolve1d(out, kernel, axis=b, mode=mode, cval=0.0)
        total += out
    return total


@cache
def _rotations(dims: str) -> tuple[tuple[tuple[int, ...], tuple[bool, ...]], ...]:
    """Right-angle rotations as (axis permutation, flips) with determinant +1."""
    if dims == "2D":  # in-plane (y, x): identity, 90, 180, 270 degrees
        return (
            ((0, 1, 2), (False, False, False)),
            ((0, 2, 1), (False, True, False)),
            ((0, 1, 2), (False, True, True)),
            ((0, 2, 1), (False, False, True)),
        )
    out = []
    for perm in itertools.permutations(range(3)):
        parity = np.linalg.det(np.eye(3)[list(perm)])
        for flips in itertools.product((False, True), repeat=3):
            if parity * (-1) ** sum(flips) > 0:
                out.append((perm, flips))
    return tuple(out)


def _rotate(data, rot):
    perm, flips = rot
    out = np.transpose(data, perm)
    return np.flip(out, [a for a in range(3) if flips[a]]) if any(flips) else out


def _unrotate(data, rot):
    perm, flips = rot
    out = np.flip(data, [a for a in range(3) if flips[a]]) if any(flips) else data
    return np.transpose(out, np.argsort(perm))


def _pooled(data, spec, func) -> np.ndarray:
    if not spec.rotation_invariant:
        return func(data)
    pooled = None
    rots = _rotations(spec.dims)
    for rot in rots:
        resp = _unrotate(func(np.ascontiguousarray(_rotate(data, rot))), rot)
        if pooled is None:
            pooled = resp.copy()
        elif spec.pooling == "max":
            np.maximum(pooled, resp, out=pooled)
        else:
            pooled += resp
    return pooled if spec.pooling == "max" else pooled / len(rots)


def _laws(data, spec) -> np.ndarray:
    names = _split_laws(spec.kernels)  # x, y, z order
    kernels = [np.ones(1)] * 3
    for axis_xyz, name in enumerate(names):
        kernels[2 - axis_xyz] = LAWS_KERNELS[name]
    resp = _pooled(data, spec, lambda d: _separable(d, kernels, spec))
    if spec.energy_distance is None:
        return resp
    m = 2 * spec.energy_distance + 1
    return _separable(np.abs(resp), [np.ones(m) / m] * 3, spec)


def _gabor_radius(spec, spacing: float) -> int:
    sigma = spec.sigma_mm / spacing
    return int(np.floor(spec.cutoff * sigma * max(1.0, 1.0 / spec.gamma) + 0.5))


def _gabor_kernel(spec, theta: float, spacing: float) -> np.ndarray:
    sigma = spec.sigma_mm / spacing
    lam = spec.wavelength_mm / spacing
    r = _gabor_radius(spec, spacing)
    k = np.arange(-r, r + 1, dtype=float)
    y, x = np.meshgrid(k, k, indexing="ij")
    xt = x * np.cos(theta) + y * np.sin(theta)
    yt = -x * np.sin(theta) + y * np.cos(theta)
    return np.exp(-(xt**2 + spec.gamma**2 * yt**2) / (2 * sigma**2)) * np.exp(2j * np.pi * xt / lam)


def _gabor_plane(data, spec, spacing: float) -> np.ndarray:
    """Gabor modulus on the last two axes (each plane on its own), theta-pooled."""
    if spec.rotation_invariant:
        step = spec.theta_step or np.pi / 4
        thetas = np.arange(0.0, 2 * np.pi - 1e-9, step) + spec.theta
    else:
        thetas = [spec.theta]
    r = _gabor_radius(spec, spacing)
    padded = np.pad(data, ((0, 0), (r, r), (r, r)), mode=_NP_PAD[spec.boundary])
    pooled = None
    for theta in thetas:
        kernel = _gabor_kernel(spec, float(theta), spacing)[None]
        resp = np.abs(signal.fftconvolve(padded, kernel, mode="valid", axes=(1, 2)))
        if pooled is None:
            pooled = resp
        elif spec.pooling == "max" and not spec.rotation_invariant:
            np.maximum(pooled, resp, out=pooled)
        else:
            pooled = pooled + resp if spec.pooling == "average" else np.maximum(pooled, resp)
    return pooled if spec.pooling == "max" else pooled / len(thetas)


def _gabor(data, spec, spacing) -> np.ndarray:
    if spec.dims == "2D":
        return _gabor_plane(data, spec, float(spacing[2]))
    planes = [(0, 1, 2), (1, 0, 2), (2, 0, 1)]  # axial (y, x), coronal (z, x), sagittal (z, y)
    total = np.zeros_like(data)
    for perm in planes:
        moved = np.ascontiguousarray(np.transpose(data, perm))
        total += np.transpose(_gabor_plane(moved, spec, float(spacing[perm[2]])), np.argsort(perm))
    return total / 3.0


def _wavelet(data, spec) -> np.ndarray:
    import pywt

    w = pywt.Wavelet(spec.wavelet)
    lo, hi = np.asarray(w.dec_lo), np.asarray(w.dec_hi)
    letters = spec.response  # x, y, z

    def run(d):
        approx = d
        for level in range(1, spec.level + 1):
            step = 2 ** (level - 1)
            lo_k, hi_k = _dilate(lo, step), _dilate(hi, step)
            origin = 0
            if level == spec.level:
                ks = [np.ones(1)] * 3
                for axis_xyz, letter in enumerate(letters):
                    ks[2 - axis_xyz] = lo_k if letter == "L" else hi_k
                origins = [origin if len(k) > 1 else 0 for k in ks]
                return _separable(approx, ks, spec, origins)
            ks = [lo_k] * 3
            approx = _separable(approx, ks, spec, [origin] * 3)
        return approx

    return _pooled(data, spec, run)


def _dilate(kernel: np.ndarray, step: int) -> np.ndarray:
    if step == 1:
        return kernel
    out = np.zeros(len(kernel) * step)  # a trous: step - 1 zeros after every tap
    out[::step] = kernel
    return out
