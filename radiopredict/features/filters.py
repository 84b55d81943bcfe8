r"""IBSI-2 filters: mean, LoG, Laws, Gabor, separable and Simoncelli wavelets, Riesz; 2D and 3D.

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
simoncelli
    Non-separable, isotropic Simoncelli wavelet, defined in the Fourier domain:
    :math:`\hat\psi_j(\boldsymbol\nu) = \cos\left(\frac{\pi}{2}
    \log_2\frac{2\|\boldsymbol\nu\|}{\nu_j}\right)` for
    :math:`\nu_j/4 < \|\boldsymbol\nu\| < \nu_j` (0 elsewhere), :math:`\nu_j = \pi/2^{j-1}`
    at decomposition level :math:`j` (undecimated). The frequency grid is the one of the IBSI-2
    reference implementations: :math:`N` points spanning :math:`[-\pi, \pi]` on each axis of
    :math:`N` voxels (ends included); the response is the real part of the inverse transform.
    A Fourier-domain filter is periodic: ``boundary="periodic"``.
riesz_log, riesz_simoncelli
    Riesz transformation of order :math:`\mathbf{l} = (l_1, \ldots, l_d)` (x, y, z),
    :math:`L = \sum_a l_a`, applied to the LoG or Simoncelli response:
    :math:`\widehat{\mathcal{R}^{\mathbf{l}} f}(\boldsymbol\omega) = (-j)^L
    \sqrt{\frac{L!}{\prod_a l_a!}} \frac{\prod_a \omega_a^{l_a}}{\|\boldsymbol\omega\|^L}
    \hat f(\boldsymbol\omega)` (0 at :math:`\boldsymbol\omega = 0`), on the DFT frequencies
    :math:`\omega_a = 2\pi k / N_a`. For ``riesz_log`` the image is first extended by the LoG
    radius with ``boundary``, the LoG and the transformation act on that extended image
    (periodic beyond it) and the extension is cut off again. Steering
    (``tensor_sigma_mm``): the filter is rotated at every voxel into the local frame of the
    structure tensor :math:`J = G_{\sigma_t} * (\mathbf{g}\mathbf{g}^T)`, where
    :math:`\mathbf{g}` is the first-order Riesz transformation (all-pass gradient) of the
    LoG / Simoncelli response and :math:`G_{\sigma_t}` a periodic Gaussian of
    ``tensor_sigma_mm``; local x is the eigenvector of the largest eigenvalue, signed so that
    :math:`\mathbf{e}_1 \cdot \mathbf{g} \ge 0`, then local y (3D: its largest component
    positive), and local z = x :math:`\times` y. A Riesz transformation is global: these
    filters always work on the whole image (``filter_radius`` covers it).
"""

from __future__ import annotations

import itertools
import math
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
    "GLOBAL_RADIUS",
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
_KINDS = ("mean", "log", "laws", "gabor", "wavelet", "simoncelli", "riesz_log", "riesz_simoncelli")
_FOURIER = ("simoncelli", "riesz_simoncelli")  # defined on the image's own frequency grid
_GLOBAL = ("simoncelli", "riesz_log", "riesz_simoncelli")  # no compact support
#: Radius (voxels) that ``filter_radius`` gives a filter without compact support: larger than
#: any image, so that every crop of it is the whole image.
GLOBAL_RADIUS = 2**40


@dataclass(frozen=True)
class FilterSpec(Settings):
    """Settings of one IBSI-2 filter.

    Parameters
    ----------
    kind
        ``"mean"``, ``"log"``, ``"laws"``, ``"gabor"``, ``"wavelet"``, ``"simoncelli"``,
        ``"riesz_log"`` or ``"riesz_simoncelli"``.
    boundary
        ``"constant"`` (zero), ``"nearest"``, ``"periodic"`` or ``"mirror"``.
    dims
        ``"2D"`` (per axial slice) or ``"3D"``.
    support
        Mean filter support :math:`M` (odd, voxels).
    sigma_mm
        LoG / Gabor / Riesz-LoG scale in mm.
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
        (``"LHL"``, x y z) and decomposition level (also the Simoncelli level).
    riesz_order
        Riesz order :math:`(l_x, l_y, l_z)` (2D: :math:`(l_x, l_y)`), e.g. ``(1, 0, 0)``.
    tensor_sigma_mm
        Steered Riesz filters: scale (mm) of the structure tensor's Gaussian; None: not steered.
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
    riesz_order: tuple[int, ...] | None = None
    tensor_sigma_mm: float | None = None

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
        if self.kind in ("wavelet", "simoncelli", "riesz_simoncelli") and self.level < 1:
            bad(f"level must be >= 1, got {self.level}", "use level=1")
        if self.kind == "riesz_log" and not (self.sigma_mm and self.sigma_mm > 0):
            bad("sigma_mm must be positive", "e.g. sigma_mm=3")
        if self.kind in _FOURIER and self.boundary != "periodic":
            bad(
                f"boundary {self.boundary!r}: this filter is defined in the Fourier domain of the "
                "image, which is periodic",
                "use boundary='periodic'",
            )
        if self.kind in ("riesz_log", "riesz_simoncelli"):
            n = 2 if self.dims == "2D" else 3
            order = self.riesz_order
            if order is not None and not isinstance(order, tuple):
                order = tuple(order)
                object.__setattr__(self, "riesz_order", order)
            if (
                order is None
                or len(order) != n
                or any(not isinstance(o, (int, np.integer)) or o < 0 for o in order)
                or sum(order) < 1
            ):
                bad(
                    f"riesz_order {self.riesz_order!r} must give {n} non-negative integer orders "
                    "(x, y, z) of total order >= 1",
                    "e.g. riesz_order=(1, 0, 0)" if n == 3 else "e.g. riesz_order=(1, 0)",
                )
            object.__setattr__(self, "riesz_order", tuple(int(o) for o in order))
            if self.tensor_sigma_mm is not None and not self.tensor_sigma_mm > 0:
                bad("tensor_sigma_mm must be positive (or None: not steered)", "e.g. 2.0")

    @property
    def name(self) -> str:
        """Short name used to prefix feature tags (``"log_s1.5"``, ``"riesz100_log_s3_st2"``)."""
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
        elif self.kind == "wavelet":
            core = f"wavelet_{self.wavelet}_{self.response}{self.level}"
        elif self.kind == "simoncelli":
            core = f"simoncelli_l{self.level}"
        else:
            base = (
                f"log_s{self.sigma_mm:g}"
                if self.kind == "riesz_log"
                else f"simoncelli_l{self.level}"
            )
            steer = "" if self.tensor_sigma_mm is None else f"_st{self.tensor_sigma_mm:g}"
            order = "".join(str(o) for o in self.riesz_order)
            core = f"riesz{order}_{base}{steer}"
        return core + dims + ri

    def to_dict(self) -> dict[str, Any]:
        """Settings as a plain dict (for YAML, caching and provenance)."""
        return asdict(self)


def _split_laws(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(0, len(text), 2)]


# -- radius (support) of each filter, used for exact crops -----------------------------------
def filter_radius(spec: FilterSpec, spacing_zyx) -> np.ndarray:
    """Half-width (voxels, numpy order z, y, x) of the region a response voxel depends on.

    Filters without compact support (Simoncelli, Riesz) depend on the whole image: their
    radius is ``GLOBAL_RADIUS`` on every axis, so that any crop of them is the whole image.
    """
    spacing = np.asarray(spacing_zyx, dtype=float)
    axes = _axes(spec, len(spacing))
    r = np.zeros(len(spacing), dtype=np.int64)
    if spec.kind in _GLOBAL:
        r[axes] = GLOBAL_RADIUS  # 2D: each slice on its own, so whole slices only
    elif spec.kind == "mean":
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
    if spec.kind == "wavelet":
        return _wavelet(data, spec)
    return _fourier(data, spec, spacing)


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


# -- Fourier-domain filters: Simoncelli wavelets and Riesz transformations ---------------------
def _fourier(data, spec, spacing) -> np.ndarray:
    """Simoncelli, Riesz-LoG and Riesz-Simoncelli responses (FFT over the filtered axes)."""
    from scipy import fft

    axes = tuple(_axes(spec, data.ndim))
    cut = None
    if spec.kind == "riesz_log":
        # the LoG's boundary condition acts on an extension by its radius; the transformation
        # is periodic over the extended image, which is cut back afterwards
        log = FilterSpec(
            kind="log",
            sigma_mm=spec.sigma_mm,
            dims=spec.dims,
            cutoff=spec.cutoff,
            boundary=spec.boundary,
        )
        radius = filter_radius(log, spacing)
        width = [(int(radius[a]), int(radius[a])) if a in axes else (0, 0) for a in range(3)]
        data = np.pad(data, width, mode=_NP_PAD[spec.boundary])
        cut = tuple(slice(w[0], n - w[1]) for w, n in zip(width, data.shape, strict=True))
        spectrum = fft.fftn(_log(data, log, spacing), axes=axes)
    else:
        spectrum = fft.fftn(data, axes=axes) * _simoncelli_transfer(
            [data.shape[a] for a in axes], spec.level
        )
    if spec.kind == "simoncelli":
        out = fft.ifftn(spectrum, axes=axes).real
    else:
        omega = _dft_frequencies([data.shape[a] for a in axes])  # numpy axis order
        order = spec.riesz_order[::-1]  # x, y(, z) -> numpy order
        if spec.tensor_sigma_mm is None:
            out = _riesz_component(spectrum, omega, order, axes)
        else:
            sigma = [spec.tensor_sigma_mm / spacing[a] for a in axes]
            out = _steered_riesz(spectrum, omega, order, axes, sigma)
        out *= math.sqrt(math.factorial(sum(order)) / math.prod(map(math.factorial, order)))
    return np.ascontiguousarray(out if cut is None else out[cut])


def _dft_frequencies(shape) -> list[np.ndarray]:
    """Sparse DFT angular frequencies :math:`2\\pi k / N` per axis (numpy order)."""
    return np.meshgrid(*[2 * np.pi * np.fft.fftfreq(n) for n in shape], indexing="ij", sparse=True)


@cache
def _simoncelli_cached(shape: tuple[int, ...], level: int) -> np.ndarray:
    # the IBSI-2 reference grid: N points from -pi to pi (ends included), in FFT order
    coords = [np.fft.ifftshift(np.linspace(-np.pi, np.pi, n)) for n in shape]
    grids = np.meshgrid(*coords, indexing="ij", sparse=True)
    radius = np.sqrt(sum(g**2 for g in grids))
    top = np.pi / 2 ** (level - 1)
    band = (radius > top / 4) & (radius < top)
    out = np.zeros(radius.shape)
    out[band] = np.cos(np.pi / 2 * np.log2(2 * radius[band] / top))
    out.flags.writeable = False
    return out


def _simoncelli_transfer(shape, level: int) -> np.ndarray:
    return _simoncelli_cached(tuple(int(n) for n in shape), int(level))


def _riesz_component(spectrum, omega, order, axes) -> np.ndarray:
    """Real part of the unnormalised Riesz component :math:`(-j)^L \\omega^m/|\\omega|^L`."""
    from scipy import fft

    total = sum(order)
    norm = np.sqrt(sum(w**2 for w in omega))
    norm.flat[0] = 1.0  # the DC term: set to 0 below
    transfer = (-1j) ** total / norm**total
    for w, o in zip(omega, order, strict=True):
        if o:
            transfer = transfer * w**o
    transfer = np.broadcast_to(transfer, norm.shape).copy()
    transfer.flat[0] = 0.0
    shape = [1] * spectrum.ndim
    for a, n in zip(axes, transfer.shape, strict=True):
        shape[a] = n
    return fft.ifftn(spectrum * transfer.reshape(shape), axes=axes).real


def _steered_riesz(spectrum, omega, order, axes, sigma) -> np.ndarray:
    """Riesz component of ``order`` in the local frame of the structure tensor (numpy order).

    The frame axis ``k`` (numpy order ``order[k]``) is a unit vector field; the rotated
    filter :math:`\\prod_k (\\mathbf{e}_k \\cdot \\omega)^{l_k}` expands into monomials
    :math:`\\omega^m` of the same total order, each one an unsteered component.
    """
    n = len(axes)
    unit = [tuple(int(i == a) for i in range(n)) for a in range(n)]
    grad = np.stack([_riesz_component(spectrum, omega, u, axes) for u in unit], axis=-1)
    frame = _structure_frame(grad, axes, sigma)  # (..., n vectors, n components), numpy order
    poly: dict[tuple[int, ...], Any] = {(0,) * n: 1.0}
    for k, power in enumerate(order):
        for _ in range(power):
            nxt: dict[tuple[int, ...], Any] = {}
            for mono, coef in poly.items():
                for b in range(n):
                    key = tuple(m + (i == b) for i, m in enumerate(mono))
                    nxt[key] = nxt.get(key, 0.0) + coef * frame[..., k, b]
            poly = nxt
    out = np.zeros(spectrum.shape)
    for mono, coef in poly.items():
        out += coef * _riesz_component(spectrum, omega, mono, axes)
    return out


def _structure_frame(grad, axes, sigma) -> np.ndarray:
    """Local orthonormal frame (rows: numpy-order vectors) of the smoothed structure tensor."""
    n = grad.shape[-1]
    tensor = np.empty(grad.shape + (n,))
    for a in range(n):
        for b in range(a, n):
            smooth = ndimage.gaussian_filter(
                grad[..., a] * grad[..., b],
                sigma=[sigma[axes.index(i)] if i in axes else 0.0 for i in range(grad.ndim - 1)],
                mode="wrap",
                truncate=4.0,
            )
            tensor[..., a, b] = tensor[..., b, a] = smooth
    _, vectors = np.linalg.eigh(tensor)  # ascending eigenvalues, vectors in columns
    # work in x, y(, z) component order, where the right-hand rule applies
    vec = np.swapaxes(vectors[..., ::-1, ::-1], -1, -2)  # rows: vectors by descending value
    g = grad[..., ::-1]
    first = vec[..., 0, :]
    first *= np.where(np.sum(first * g, axis=-1) < 0, -1.0, 1.0)[..., None]
    if n == 2:
        second = np.stack([-first[..., 1], first[..., 0]], axis=-1)
        frame = np.stack([first, second], axis=-2)
    else:
        second = vec[..., 1, :]
        big = np.take_along_axis(second, np.abs(second).argmax(axis=-1)[..., None], axis=-1)
        second *= np.where(big < 0, -1.0, 1.0)
        frame = np.stack([first, second, np.cross(first, second)], axis=-2)
    # frame[..., k, :] is local axis k (x, y, z order) in x, y, z components: to numpy order
    return frame[..., ::-1, ::-1]
