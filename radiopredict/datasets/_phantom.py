"""CT-like thorax phantoms with one tumour (and an optional necrotic core) per volume.

Private helper of :mod:`radiopredict.datasets.synthetic`. Arrays are in numpy order
``(z, y, x)``; spacings passed here are in the same order. Coordinates are millimetres from the
volume centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Tissue values (HU) before the scanner shift and noise.
AIR_HU = -1000.0
SOFT_TISSUE_HU = 40.0
LUNG_HU = -850.0
BONE_HU = 600.0
NECROSIS_CONTRAST_HU = 40.0  # necrotic core = tumour mean - this
#: the tumour's radial perturbation is clipped to [-F_CLIP, F_CLIP] standard deviations
F_CLIP = 2.0
#: each ellipsoid semi-axis ratio is clipped to [1 / ELONGATION_CLIP, ELONGATION_CLIP]
ELONGATION_CLIP = 1.33
#: spatial frequency (radians per unit of direction) of the radial perturbation
SHAPE_FREQUENCY = 3.0
SHAPE_TERMS = 8
TEXTURE_CORRELATION_MM = 1.2
NOISE_CORRELATION_VOXELS = 0.5
MARGIN_MM = 2.0


def fibonacci_sphere(n: int = 2000) -> np.ndarray:
    """``n`` nearly uniform unit vectors ``(n, 3)`` (Fibonacci lattice, deterministic)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (1.0 + 5.0**0.5) * i
    return np.stack([z, r * np.sin(phi), r * np.cos(phi)], axis=1)


_DIRECTIONS = fibonacci_sphere()


def max_tumour_radius_mm(volume_mm3: float, irregularity: float) -> float:
    """Distance from the centre to the surface of the most elongated, most lobulated tumour.

    Equivalent-sphere radius times the largest axis ratio times the largest radial factor (the
    volume normalisation makes the real extent a little smaller in almost every draw).
    """
    r_eq = (3.0 * volume_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0)
    return float(r_eq * ELONGATION_CLIP * (1.0 + F_CLIP * irregularity))


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random 3x3 rotation matrix (from a random unit quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _unit_noise(rng: np.random.Generator, shape, sigma) -> np.ndarray:
    """Gaussian white noise smoothed by ``sigma`` (voxels, per axis), rescaled to unit SD."""
    field = ndimage.gaussian_filter(
        rng.standard_normal(shape, dtype=np.float32), sigma, mode="wrap", truncate=3.0
    )
    sd = field.std()
    return field / sd if sd > 0 else field


@dataclass(frozen=True)
class TumourSpec:
    """Per-patient latent tumour properties the phantom must reflect."""

    volume_mm3: float
    irregularity: float
    intensity_mean: float
    heterogeneity: float
    necrosis: bool
    site_shift: float
    site_noise: float


def draw_phantom(
    spec: TumourSpec,
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    spacing_zyx: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Draw one CT-like volume (int16 HU) and its label map (0, 1 tumour, 2 necrosis).

    Returns the image, the label map and the image-level latent properties drawn here.
    """
    nz, ny, nx = shape
    sz, sy, sx = spacing_zyx
    zc = (np.arange(nz) - (nz - 1) / 2.0) * sz
    yc = (np.arange(ny) - (ny - 1) / 2.0) * sy
    xc = (np.arange(nx) - (nx - 1) / 2.0) * sx
    Z, Y, X = zc[:, None, None], yc[None, :, None], xc[None, None, :]
    half = np.array([nz * sz, ny * sy, nx * sx]) / 2.0

    # --- body, lung, spine, vessels -------------------------------------------------------
    bx, by = 0.47 * nx * sx, 0.42 * ny * sy
    wall = 4.0
    body = (X / bx) ** 2 + (Y / by) ** 2 <= 1.0
    lz = 0.75 * nz * sz
    zscale = np.sqrt(np.clip(1.0 - (Z / lz) ** 2, 0.05, None))
    lx, ly = (bx - wall) * zscale, (by - wall) * zscale
    lung = (X / lx) ** 2 + (Y / ly) ** 2 <= 1.0
    img = np.full(shape, AIR_HU, dtype=np.float32)
    img[np.broadcast_to(body, shape)] = SOFT_TISSUE_HU
    lung = np.broadcast_to(lung & body, shape)
    img[lung] = LUNG_HU + 15.0 * _unit_noise(rng, shape, (1.0, 3.0, 3.0))[lung]
    spine_r = 0.12 * min(bx, by)
    spine = (X**2 + (Y - (by - 0.5 * wall)) ** 2) <= spine_r**2
    img[np.broadcast_to(spine & body, shape)] = BONE_HU
    n_vessels = int(rng.integers(3, 7))
    for _ in range(n_vessels):
        p0 = rng.uniform(-0.6, 0.6, size=3) * half
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        r_v = rng.uniform(0.8, 1.6)
        vz, vy, vx = Z - p0[0], Y - p0[1], X - p0[2]
        # |v x d|^2 = |v|^2 - (v . d)^2
        dist2 = vz**2 + vy**2 + vx**2 - (vz * d[0] + vy * d[1] + vx * d[2]) ** 2
        img[(dist2 <= r_v**2) & lung] = SOFT_TISSUE_HU

    # --- tumour shape ---------------------------------------------------------------------
    rot = _random_rotation(rng)
    axes = np.exp(rng.normal(0.0, 0.1, size=3))
    axes = np.clip(axes / np.prod(axes) ** (1.0 / 3.0), 1.0 / ELONGATION_CLIP, ELONGATION_CLIP)
    waves = rng.normal(size=(SHAPE_TERMS, 3))
    waves /= np.linalg.norm(waves, axis=1, keepdims=True)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=SHAPE_TERMS)

    def radial_factor(u: np.ndarray) -> np.ndarray:  # u: (..., 3) unit vectors
        f = np.cos(SHAPE_FREQUENCY * (u @ waves.T) + phases).sum(axis=-1)
        f = (f - f_mean) / f_sd
        return 1.0 + spec.irregularity * np.clip(f, -F_CLIP, F_CLIP)

    f_dirs = np.cos(SHAPE_FREQUENCY * (_DIRECTIONS @ waves.T) + phases).sum(axis=-1)
    f_mean, f_sd = f_dirs.mean(), f_dirs.std()
    mean_r3 = float(np.mean(radial_factor(_DIRECTIONS) ** 3))
    scale = (3.0 * spec.volume_mm3 / (4.0 * np.pi * mean_r3 * np.prod(axes))) ** (1.0 / 3.0)
    r_max = scale * axes.max() * (1.0 + F_CLIP * spec.irregularity)

    # centre inside the lung, clamped so the tumour stays inside the field of view
    centre = rng.uniform(-0.3, 0.3, size=3) * np.array([0.5 * nz * sz, by - wall, bx - wall])
    lim = half - r_max - MARGIN_MM
    centre = np.clip(centre, -np.maximum(lim, 0.0), np.maximum(lim, 0.0))

    # bounding box (voxel indices) of the tumour
    spacing = np.array([sz, sy, sx])
    coords = (zc, yc, xc)
    box = []
    for ax in range(3):
        c = coords[ax]
        lo = int(np.searchsorted(c, centre[ax] - r_max - spacing[ax], side="left"))
        hi = int(np.searchsorted(c, centre[ax] + r_max + spacing[ax], side="right"))
        box.append(slice(max(lo, 0), min(hi, len(c))))
    bz, byy, bxx = box
    pz = zc[bz][:, None, None] - centre[0]
    py = yc[byy][None, :, None] - centre[1]
    px = xc[bxx][None, None, :] - centre[2]
    p = np.stack(np.broadcast_arrays(pz, py, px), axis=-1)  # (..., 3) in (z, y, x) mm
    q = (p @ rot) / axes  # body frame, ellipsoid normalised
    rho = np.linalg.norm(q, axis=-1)
    u = q / np.where(rho > 0, rho, 1.0)[..., None]
    surface = scale * radial_factor(u)
    tumour = rho <= surface

    labels = np.zeros(shape, dtype=np.uint8)
    sub = np.zeros(tumour.shape, dtype=np.uint8)
    sub[tumour] = 1
    core_ratio = 0.0
    if spec.necrosis:
        core_ratio = float(rng.uniform(0.35, 0.6))
        sub[tumour & (rho <= core_ratio * surface)] = 2
    labels[bz, byy, bxx] = sub

    texture_sigma = TEXTURE_CORRELATION_MM / spacing
    texture = _unit_noise(rng, tumour.shape, texture_sigma)
    # the tumour (label 1) gets exactly mean mu and SD h before the scanner noise
    viable = sub == 1
    if np.count_nonzero(viable) > 1:
        texture = (texture - texture[viable].mean()) / texture[viable].std()
    region = img[bz, byy, bxx]
    region = np.where(viable, spec.intensity_mean + spec.heterogeneity * texture, region)
    region = np.where(
        sub == 2,
        spec.intensity_mean - NECROSIS_CONTRAST_HU + 0.25 * spec.heterogeneity * texture,
        region,
    )
    img[bz, byy, bxx] = region

    # --- scanner: intensity shift and (slightly correlated) noise -------------------------
    noise = _unit_noise(rng, shape, (0.0, NOISE_CORRELATION_VOXELS, NOISE_CORRELATION_VOXELS))
    img += spec.site_shift + spec.site_noise * noise
    img = np.clip(np.rint(img), -1024, 3071).astype(np.int16)

    voxel_mm3 = float(np.prod(spacing))
    props = {
        "centre_z_mm": float(centre[0]),
        "centre_y_mm": float(centre[1]),
        "centre_x_mm": float(centre[2]),
        "axis_ratio_1": float(axes[0]),
        "axis_ratio_2": float(axes[1]),
        "axis_ratio_3": float(axes[2]),
        "n_vessels": n_vessels,
        "necrosis_core_ratio": core_ratio,
        "tumour_voxels": int(np.count_nonzero(sub)),
        "label1_voxels": int(np.count_nonzero(sub == 1)),
        "label2_voxels": int(np.count_nonzero(sub == 2)),
        "mask_volume_mm3": float(np.count_nonzero(sub)) * voxel_mm3,
        "touches_border": bool(
            labels[0].any()
            or labels[-1].any()
            or labels[:, 0].any()
            or labels[:, -1].any()
            or labels[:, :, 0].any()
            or labels[:, :, -1].any()
        ),
    }
    return img, labels, props


def add_satellite(
    img: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    spacing_zyx: tuple[float, float, float],
    *,
    radius_mm: float,
    gap_mm: float,
    intensity: float,
    noise_sd: float,
) -> dict[str, float]:
    """Draw a small spherical satellite lesion ``gap_mm`` outside the tumour mask, in place.

    The satellite is a ball of radius ``radius_mm`` whose surface lies ``gap_mm`` (distance
    between its centre and the nearest tumour voxel minus its radius) from the tumour; it is
    placed in the lung when a lung voxel at that distance exists, never touches the mask and is
    **not** added to ``labels`` (a segmentation of the main tumour does not contain it). Its
    voxels get ``intensity + noise_sd * N(0, 1)`` HU.

    Returns the satellite's centre (mm from the volume centre, ``z, y, x``), radius, gap and
    voxel count.
    """
    shape = img.shape
    spacing = np.asarray(spacing_zyx, dtype=float)
    dist = ndimage.distance_transform_edt(labels == 0, sampling=spacing)
    target = radius_mm + gap_mm
    half_voxel = 0.5 * float(spacing.max())
    ring = np.abs(dist - target) <= half_voxel
    lung = ring & (img < -500)
    candidates = np.flatnonzero(lung if lung.any() else ring)
    if candidates.size == 0:  # pragma: no cover - the field-of-view check leaves room
        raise ValueError("no room for a satellite lesion around the tumour")
    idx = np.unravel_index(int(rng.choice(candidates)), shape)
    centre_mm = (np.asarray(idx, dtype=float) - (np.asarray(shape) - 1) / 2.0) * spacing
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - i) * s) ** 2 for g, i, s in zip(grids, idx, spacing, strict=True))
    ball = (d2 <= radius_mm**2) & (labels == 0) & (dist > 0.5 * gap_mm)
    values = intensity + noise_sd * rng.standard_normal(int(ball.sum()))
    img[ball] = np.clip(np.rint(values), -1024, 3071).astype(img.dtype)
    return {
        "satellite_centre_z_mm": float(centre_mm[0]),
        "satellite_centre_y_mm": float(centre_mm[1]),
        "satellite_centre_x_mm": float(centre_mm[2]),
        "satellite_radius_mm": float(radius_mm),
        "satellite_gap_mm": float(gap_mm),
        "satellite_voxels": int(ball.sum()),
    }
