"""Morphological features (IBSI-1 section 3.1).

Volume :math:`V` and area :math:`A` come from the triangle mesh of the morphological mask built
by marching cubes at iso-level 0.5 (the IBSI mesh): :math:`V = \\frac{1}{6}|\\sum_f
\\mathbf{a}_f \\cdot (\\mathbf{b}_f \\times \\mathbf{c}_f)|` and :math:`A = \\frac{1}{2}\\sum_f
|(\\mathbf{b}_f - \\mathbf{a}_f) \\times (\\mathbf{c}_f - \\mathbf{a}_f)|`. Principal component
eigenvalues :math:`\\lambda_{major} \\ge \\lambda_{minor} \\ge \\lambda_{least}` are those of the
covariance of the voxel centre positions of the morphological mask. Moran's I and Geary's C use
inverse-distance weights :math:`w_{kl} = 1/\\lVert \\mathbf{r}_k - \\mathbf{r}_l \\rVert` between
all voxel pairs of the intensity mask; as the voxels sit on a grid, the double sums are
autocorrelations, computed exactly with FFTs.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import threading

import numpy as np
from scipy import fft as sfft
from scipy import special
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist
from skimage.measure import marching_cubes

from radiopredict.features.registry import FeatureDef, register

__all__ = ["compute", "compute_many", "FEATURES", "mesh", "moran_geary"]

F = "morphology"
_R = r"(36\pi V^2)^{1/3}"
FEATURES = [
    FeatureDef(
        "morph_volume",
        "RNU0",
        F,
        "Volume (mesh)",
        r"V = \frac{1}{6}\left|\sum_f \mathbf{a}_f\cdot(\mathbf{b}_f\times\mathbf{c}_f)\right|",
    ),
    FeatureDef(
        "morph_vol_approx",
        "YEKZ",
        F,
        "Volume (voxel counting)",
        r"V_{vox} = N_v \Delta x \Delta y \Delta z",
    ),
    FeatureDef(
        "morph_area_mesh",
        "C0JK",
        F,
        "Surface area (mesh)",
        r"A = \frac{1}{2}\sum_f |(\mathbf{b}_f-\mathbf{a}_f)\times(\mathbf{c}_f-\mathbf{a}_f)|",
    ),
    FeatureDef("morph_av", "2PR5", F, "Surface to volume ratio", r"A/V"),
    FeatureDef("morph_comp_1", "SKGS", F, "Compactness 1", r"\frac{V}{\pi^{1/2} A^{3/2}}"),
    FeatureDef("morph_comp_2", "BQWJ", F, "Compactness 2", r"36\pi \frac{V^2}{A^3}"),
    FeatureDef("morph_sph_dispr", "KRCK", F, "Spherical disproportion", r"\frac{A}{" + _R + "}"),
    FeatureDef("morph_sphericity", "QCFX", F, "Sphericity", r"\frac{" + _R + "}{A}"),
    FeatureDef(
        "morph_asphericity",
        "25C7",
        F,
        "Asphericity",
        r"\left(\frac{A^3}{36\pi V^2}\right)^{1/3} - 1",
    ),
    FeatureDef(
        "morph_com",
        "KLMA",
        F,
        "Centre of mass shift",
        r"\left\lVert \frac{1}{N_{v,m}}\sum_{k} \mathbf{r}_k - \frac{\sum_{k} X_k \mathbf{r}_k}{\sum_k X_k}\right\rVert",
        "Distance between the geometric centre of the morphological mask and the "
        "intensity-weighted centre of the intensity mask.",
    ),
    FeatureDef(
        "morph_diam",
        "L0JK",
        F,
        "Maximum 3D diameter",
        r"\max_{k,l} \lVert \mathbf{v}_k - \mathbf{v}_l \rVert",
        "Over the mesh (convex hull) vertices.",
    ),
    FeatureDef("morph_pca_maj_axis", "TDIC", F, "Major axis length", r"4\sqrt{\lambda_{major}}"),
    FeatureDef("morph_pca_min_axis", "P9VJ", F, "Minor axis length", r"4\sqrt{\lambda_{minor}}"),
    FeatureDef("morph_pca_least_axis", "7J51", F, "Least axis length", r"4\sqrt{\lambda_{least}}"),
    FeatureDef(
        "morph_pca_elongation", "Q3CK", F, "Elongation", r"\sqrt{\lambda_{minor}/\lambda_{major}}"
    ),
    FeatureDef(
        "morph_pca_flatness", "N17B", F, "Flatness", r"\sqrt{\lambda_{least}/\lambda_{major}}"
    ),
    FeatureDef(
        "morph_vol_dens_aabb",
        "PBX1",
        F,
        "Volume density (axis-aligned bounding box)",
        r"V / V_{aabb}",
    ),
    FeatureDef(
        "morph_area_dens_aabb",
        "R59B",
        F,
        "Area density (axis-aligned bounding box)",
        r"A / A_{aabb}",
    ),
    FeatureDef(
        "morph_vol_dens_aee",
        "6BDE",
        F,
        "Volume density (approximate enclosing ellipsoid)",
        r"\frac{3V}{4\pi a b c},\ a=2\sqrt{\lambda_{major}},\ b=2\sqrt{\lambda_{minor}},\ c=2\sqrt{\lambda_{least}}",
    ),
    FeatureDef(
        "morph_area_dens_aee",
        "RDD2",
        F,
        "Area density (approximate enclosing ellipsoid)",
        r"\frac{A}{4\pi a b \sum_{\nu=0}^{20} \frac{(\alpha\beta)^\nu}{1-4\nu^2} P_\nu\left(\frac{\alpha^2+\beta^2}{2\alpha\beta}\right)},\ \alpha=\sqrt{1-b^2/a^2},\ \beta=\sqrt{1-c^2/a^2}",
        "The ellipsoid area uses the IBSI series (Legendre polynomials P, 20 terms), close to "
        "the exact area for near-spherical ellipsoids and an approximation for elongated ones.",
    ),
    FeatureDef(
        "morph_vol_dens_conv_hull", "R3ER", F, "Volume density (convex hull)", r"V / V_{convex}"
    ),
    FeatureDef(
        "morph_area_dens_conv_hull", "7T7F", F, "Area density (convex hull)", r"A / A_{convex}"
    ),
    FeatureDef(
        "morph_integ_int", "99N0", F, "Integrated intensity", r"V \cdot \frac{1}{N_v}\sum_k X_k"
    ),
    FeatureDef(
        "morph_moran_i",
        "N365",
        F,
        "Moran's I index",
        r"\frac{N_v}{\sum_{k\ne l} w_{kl}} \frac{\sum_{k\ne l} w_{kl}(X_k-\mu)(X_l-\mu)}{\sum_k (X_k-\mu)^2}",
    ),
    FeatureDef(
        "morph_geary_c",
        "NPT7",
        F,
        "Geary's C measure",
        r"\frac{N_v-1}{2\sum_{k\ne l} w_{kl}} \frac{\sum_{k\ne l} w_{kl}(X_k-X_l)^2}{\sum_k (X_k-\mu)^2}",
    ),
]
register(*FEATURES)


def _div(num: float, den: float) -> float:
    """``num / den``, NaN (reported as not computed by the engine) when ``den`` is 0 or NaN."""
    den = float(den)
    return float(num) / den if den != 0.0 and np.isfinite(den) else float("nan")


def _crop(mask: np.ndarray):
    nz = np.nonzero(mask)
    return tuple(slice(a.min(), a.max() + 1) for a in nz)


def mesh(mask: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes mesh (vertices in mm, faces) of a bool mask at iso-level 0.5."""
    padded = np.pad(mask[_crop(mask)].astype(np.float32), 1)
    verts, faces, _, _ = marching_cubes(padded, level=0.5, spacing=tuple(spacing))
    return verts, faces


def _mesh_volume_area(verts, faces) -> tuple[float, float]:
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    vol = abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()
    return float(vol), float(area)


def _ellipsoid_area(a: float, b: float, c: float) -> float:
    alpha = np.sqrt(max(0.0, 1.0 - b**2 / a**2))
    beta = np.sqrt(max(0.0, 1.0 - c**2 / a**2))
    ab = alpha * beta
    if ab < 1e-12:
        # limit of the series when one of alpha, beta vanishes (prolate/oblate or sphere)
        ab = 1e-12
        alpha, beta = max(alpha, 1e-6), max(beta, 1e-6)
    x = (alpha**2 + beta**2) / (2.0 * ab)
    nu = np.arange(21)
    terms = ab**nu / (1.0 - 4.0 * nu**2) * special.eval_legendre(nu, x)
    return float(4.0 * np.pi * a * b * terms.sum())


@functools.lru_cache(maxsize=32)
def _weights_fft(fshape: tuple[int, ...], spacing: tuple[float, ...]) -> np.ndarray:
    """Real FFT of the inverse-distance weights on the wrapped offset grid (0 at offset 0)."""
    offs = [np.fft.fftfreq(L, 1.0 / L) * s for L, s in zip(fshape, spacing, strict=True)]
    dist2 = offs[0][:, None, None] ** 2 + offs[1][None, :, None] ** 2 + offs[2][None, None, :] ** 2
    w = np.zeros(fshape)
    np.divide(1.0, np.sqrt(dist2), out=w, where=dist2 > 0)
    return sfft.rfftn(w, fshape).real


def moran_geary_sampled(
    values_img: np.ndarray, roi: np.ndarray, spacing, n_sample: int, *, seed: int = 0
) -> tuple[float, float]:
    """Moran's I and Geary's C estimated from ``n_sample`` randomly chosen ROI voxels.

    All pairs of the subset enter the usual formulas (blocks of rows keep memory bounded); the
    subset is drawn with a fixed seed, so results are deterministic.
    """
    pos = np.argwhere(roi)
    x_all = values_img[roi].astype(np.float64)
    if len(pos) > n_sample:
        idx = np.sort(np.random.default_rng(seed).choice(len(pos), n_sample, replace=False))
        pos, x_all = pos[idx], x_all[idx]
    pos = pos * np.asarray(spacing, dtype=np.float64)
    n = len(x_all)
    dev = x_all - x_all.mean()
    ss = float(np.dot(dev, dev))
    if ss <= 0 or n < 2:
        return float("nan"), float("nan")
    sum_w = s_dd = s_diff = 0.0
    block = max(1, 2_000_000 // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        d2 = ((pos[start:stop, None, :] - pos[None, :, :]) ** 2).sum(axis=-1)
        w = np.zeros_like(d2)
        np.divide(1.0, np.sqrt(d2), out=w, where=d2 > 0)
        sum_w += float(w.sum())
        s_dd += float(dev[start:stop] @ w @ dev)
        s_diff += float((w * (x_all[start:stop, None] - x_all[None, :]) ** 2).sum())
    moran = n / sum_w * s_dd / ss
    geary = (n - 1) * s_diff / (2.0 * sum_w * ss)
    return moran, geary


def moran_geary(values_img: np.ndarray, roi: np.ndarray, spacing) -> tuple[float, float]:
    """Exact Moran's I and Geary's C with inverse-distance weights, via FFT autocorrelation.

    For grid voxels the weight of a pair depends on its offset only, so
    :math:`\\sum_{k \\ne l} w_{kl} f_k g_l = \\sum_{o \\ne 0} w(o) \\sum_k f_k g_{k+o}`, an
    autocorrelation computed for all offsets at once with zero-padded FFTs.
    """
    moran, geary = _moran_geary_stack([values_img], roi, spacing)
    return float(moran[0]), float(geary[0])


def _moran_geary_stack(images: list[np.ndarray], roi: np.ndarray, spacing):
    """:func:`moran_geary` of several grey-value images on one ROI (arrays of I and C): the
    ROI's own transforms and weight sum are computed once, the images' in one stacked FFT."""
    sl = _crop(roi)
    m = roi[sl].astype(np.float64)
    n = m.sum()
    x = np.stack([np.asarray(img[sl], dtype=np.float64) for img in images])
    inside = m > 0
    mu = x[:, inside].mean(axis=1)
    d = (x - mu[:, None, None, None]) * m
    d2 = d * d
    fshape = [sfft.next_fast_len(2 * s - 1, real=True) for s in m.shape]
    axes = (1, 2, 3)
    w_hat = _weights_fft(tuple(fshape), tuple(float(s) for s in spacing))
    fm = sfft.rfftn(m, fshape)
    fd = sfft.rfftn(d, fshape, axes=axes)
    fd2 = sfft.rfftn(d2, fshape, axes=axes)
    # sum_o w(o) corr(a, b)(o) = (1/L) sum_f conj(W(f)) conj(A(f)) B(f)  (Parseval); w is even so
    # W is real. rfftn keeps half of the last axis: count the mirrored frequencies twice.
    last = fshape[-1]
    mult = np.full(fm.shape[-1], 2.0)
    mult[0] = 1.0
    if last % 2 == 0:
        mult[-1] = 1.0
    scale = w_hat * mult / float(np.prod(fshape))

    def wsum(a_hat, b_hat):
        return np.sum(scale * (a_hat.real * b_hat.real + a_hat.imag * b_hat.imag), axis=axes)

    sum_w = float(np.sum(scale * (fm.real * fm.real + fm.imag * fm.imag)))
    ss = d2.sum(axis=axes)
    s_dd = wsum(fd, fd)
    geary_num = 2.0 * (wsum(fm[None], fd2) - s_dd)
    with np.errstate(divide="ignore", invalid="ignore"):
        moran = n / sum_w * s_dd / ss
        geary = (n - 1) * geary_num / (2.0 * sum_w * ss)
    undefined = (ss <= 0) | (n < 2)
    return np.where(undefined, np.nan, moran), np.where(undefined, np.nan, geary)


def compute(
    image: np.ndarray,
    morph_roi: np.ndarray,
    int_roi: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    moran_geary_on: bool = True,
    moran_geary_max_voxels: int | None = None,
) -> dict[str, float]:
    """Morphological features.

    Parameters
    ----------
    image
        Grey values ``(z, y, x)``.
    morph_roi, int_roi
        Morphological and intensity masks (bool, same shape as ``image``).
    spacing
        ``(z, y, x)`` spacing in mm.
    moran_geary_on
        Compute Moran's I and Geary's C.
    moran_geary_max_voxels
        Above this many intensity-mask voxels, estimate them on a random subset of that size
        (:func:`moran_geary_sampled`); ``None`` computes them exactly.
    """
    return compute_many(
        [(image, morph_roi, int_roi)],
        spacing,
        moran_geary_on=moran_geary_on,
        moran_geary_max_voxels=moran_geary_max_voxels,
    )[0]


def compute_many(
    items: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    spacing: tuple[float, float, float],
    *,
    moran_geary_on: bool = True,
    moran_geary_max_voxels: int | None = None,
) -> list[dict[str, float]]:
    """:func:`compute` for several ``(image, morph_roi, int_roi)`` items.

    Items with the same masks (one ROI in several filter responses) share the mesh-based
    features (see :func:`_geometry`) and one stacked Moran / Geary FFT.
    """
    spacing = tuple(float(s) for s in spacing)
    groups: dict[tuple, list[int]] = {}
    for k, (_, morph_roi, int_roi) in enumerate(items):
        key = (morph_roi.shape, _mask_key(morph_roi), _mask_key(int_roi))
        groups.setdefault(key, []).append(k)
    out: list[dict[str, float]] = [{} for _ in items]
    with np.errstate(divide="ignore", invalid="ignore"):
        for members in groups.values():
            _, morph_roi, int_roi = items[members[0]]
            images = [items[k][0] for k in members]
            for k, feats in zip(
                members,
                _compute(
                    images, morph_roi, int_roi, spacing, moran_geary_on, moran_geary_max_voxels
                ),
                strict=True,
            ):
                out[k] = feats
    return out


def _mask_key(mask: np.ndarray) -> bytes:
    return hashlib.blake2b(np.packbits(mask, axis=None).tobytes(), digest_size=16).digest()


#: Geometry of recent morphological masks (the features that do not depend on grey values),
#: keyed by the mask's shape, spacing and bytes: the same ROI is measured once, not once per
#: filter response (an ROI with 11 filters asks for its mesh 12 times).
_GEOMETRY_CACHE: collections.OrderedDict = collections.OrderedDict()
_GEOMETRY_CACHE_SIZE = 64
_GEOMETRY_LOCK = threading.Lock()


def _geometry(morph_roi: np.ndarray, spacing: tuple[float, ...]) -> tuple[dict, np.ndarray]:
    """Grey-value-free morphological features of a mask and its voxel centroid (mm), cached."""
    key = (morph_roi.shape, spacing, _mask_key(morph_roi))
    with _GEOMETRY_LOCK:
        hit = _GEOMETRY_CACHE.get(key)
        if hit is not None:
            _GEOMETRY_CACHE.move_to_end(key)
            return hit
    hit = _measure(morph_roi, spacing)
    with _GEOMETRY_LOCK:
        _GEOMETRY_CACHE[key] = hit
        while len(_GEOMETRY_CACHE) > _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.popitem(last=False)
    return hit


def _measure(morph_roi: np.ndarray, spacing: tuple[float, ...]) -> tuple[dict, np.ndarray]:
    verts, faces = mesh(morph_roi, spacing)
    vol, area = _mesh_volume_area(verts, faces)
    n_vox = int(morph_roi.sum())
    out: dict[str, float] = {
        "morph_volume": vol,
        "morph_vol_approx": n_vox * float(np.prod(spacing)),
        "morph_area_mesh": area,
        "morph_av": _div(area, vol),
        "morph_comp_1": _div(vol, np.sqrt(np.pi) * area**1.5),
        "morph_comp_2": _div(36.0 * np.pi * vol**2, area**3),
        "morph_sph_dispr": _div(area, (36.0 * np.pi * vol**2) ** (1.0 / 3.0)),
        "morph_sphericity": _div((36.0 * np.pi * vol**2) ** (1.0 / 3.0), area),
        "morph_asphericity": _div(area**3, 36.0 * np.pi * vol**2) ** (1.0 / 3.0) - 1.0,
    }
    pos_m = np.argwhere(morph_roi) * np.asarray(spacing)
    centre_geom = pos_m.mean(axis=0)
    hull = ConvexHull(verts)  # the mesh of any non-empty mask encloses a volume
    hv = verts[hull.vertices]
    out["morph_diam"] = float(pdist(hv).max()) if len(hv) > 1 else 0.0
    nan = float("nan")
    if n_vox >= 2:
        evals = np.sort(np.linalg.eigvalsh(np.cov(pos_m, rowvar=False)))[::-1]
        lmaj, lmin, lleast = np.clip(evals, 0.0, None)
    else:  # the principal axes of a single voxel are undefined: reported as not computed
        lmaj = lmin = lleast = nan
    out["morph_pca_maj_axis"] = 4.0 * np.sqrt(lmaj)
    out["morph_pca_min_axis"] = 4.0 * np.sqrt(lmin)
    out["morph_pca_least_axis"] = 4.0 * np.sqrt(lleast)
    out["morph_pca_elongation"] = _div(np.sqrt(lmin), np.sqrt(lmaj))
    out["morph_pca_flatness"] = _div(np.sqrt(lleast), np.sqrt(lmaj))
    ext = verts.max(axis=0) - verts.min(axis=0)
    out["morph_vol_dens_aabb"] = _div(vol, np.prod(ext))
    out["morph_area_dens_aabb"] = _div(
        area, 2.0 * (ext[0] * ext[1] + ext[0] * ext[2] + ext[1] * ext[2])
    )
    a, b, c = 2.0 * np.sqrt(lmaj), 2.0 * np.sqrt(lmin), 2.0 * np.sqrt(lleast)
    out["morph_vol_dens_aee"] = _div(3.0 * vol, 4.0 * np.pi * a * b * c)
    out["morph_area_dens_aee"] = (
        _div(area, _ellipsoid_area(a, b, c)) if a > 0 and b > 0 and c > 0 else nan
    )
    out["morph_vol_dens_conv_hull"] = _div(vol, hull.volume)
    out["morph_area_dens_conv_hull"] = _div(area, hull.area)
    return out, centre_geom


#: Number of geometry features that come before the centre-of-mass shift in the output.
_N_BEFORE_COM = 9


def _compute(images, morph_roi, int_roi, spacing, moran_geary_on, max_vox) -> list[dict]:
    """Morphological features of several grey-value images on the same masks."""
    geometry, centre_geom = _geometry(morph_roi, spacing)
    keys = list(geometry)
    vol = geometry["morph_volume"]
    sp = np.asarray(spacing)
    pos_i = np.argwhere(int_roi) * sp
    xs = np.stack([np.asarray(img[int_roi], dtype=np.float64) for img in images])
    total = xs.sum(axis=1)
    weighted = xs @ pos_i  # (images, 3)
    mean = xs.mean(axis=1)
    if moran_geary_on:
        if max_vox is not None and int(int_roi.sum()) > max_vox:
            pairs = [moran_geary_sampled(img, int_roi, spacing, max_vox) for img in images]
            moran, geary = np.array(pairs).T
        else:
            moran, geary = _moran_geary_stack(images, int_roi, spacing)
    out = []
    for k in range(len(images)):
        feats = {key: geometry[key] for key in keys[:_N_BEFORE_COM]}  # the IBSI order
        centre_int = weighted[k] / total[k] if total[k] != 0 else np.full(3, np.nan)
        feats["morph_com"] = float(np.linalg.norm(centre_geom - centre_int))
        feats.update({key: geometry[key] for key in keys[_N_BEFORE_COM:]})
        feats["morph_integ_int"] = vol * float(mean[k])
        if moran_geary_on:
            feats["morph_moran_i"] = moran[k]
            feats["morph_geary_c"] = geary[k]
        out.append({key: float(v) for key, v in feats.items()})
    return out
