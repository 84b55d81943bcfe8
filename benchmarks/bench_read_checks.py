"""Cost of the readers' integrity checks (issue 14): ``read_image`` against ``SimpleITK.ReadImage``.

Writes a synthetic 512 x 512 x 200 CT-like volume as int16 and float32 ``.nii.gz`` and ``.nii``
(random values, so gzip compresses little: a worst case for the second decompression), then
times, in the same run, ``SimpleITK.ReadImage`` alone, the completeness / NaN check alone, and
``radiopredict.read_image`` (check + read + finite check). Median of ``--repeats`` runs.

    nice .venv/bin/python benchmarks/bench_read_checks.py --repeats 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from radiopredict.imaging import read_image
from radiopredict.imaging._integrity import check_file_complete


def _median_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=3, default=(200, 512, 512))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"machine: {platform.platform()}, Python {platform.python_version()}, "
        f"SimpleITK {sitk.Version_VersionString()}, shape (z, y, x) {tuple(args.shape)}"
    )
    print("| file | SimpleITK.ReadImage (s) | check alone (s) | read_image (s) | ratio |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in (np.int16, np.float32):
            arr = rng.normal(0, 300, args.shape).astype(dtype)
            for ext in (".nii.gz", ".nii"):
                path = Path(tmp) / f"ct_{np.dtype(dtype).name}{ext}"
                sitk.WriteImage(sitk.GetImageFromArray(arr), str(path))
                read_image(path)  # warm the file cache
                base = _median_time(lambda p=path: sitk.ReadImage(str(p)), args.repeats)
                check = _median_time(lambda p=path: check_file_complete(p, "image"), args.repeats)
                full = _median_time(lambda p=path: read_image(p), args.repeats)
                print(
                    f"| {path.name} | {base:.2f} | {check:.2f} | {full:.2f} | {full / base:.2f} |"
                )


if __name__ == "__main__":
    main()
