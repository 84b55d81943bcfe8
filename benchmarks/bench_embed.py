"""Embedding benchmark: cases per second for crops + encoder, cold and with a warm cache.

Usage::

    nice .venv/bin/python benchmarks/bench_embed.py --n 40 --threads 1 --out /tmp/bench_embed

Prints a JSON summary (also written to ``OUT/results.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_embed"))
    args = ap.parse_args()

    import torch

    from radiopredict import Cohort, make_synthetic_cohort
    from radiopredict.embed import (
        CropSettings,
        ResNetConfig,
        ResNetEncoder,
        case_crop,
        extract_embeddings,
    )

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    cohort = Cohort.read(make_synthetic_cohort(args.out / "cohort", args.n, seed=args.seed))
    crop = CropSettings(size_mm=(64.0, 64.0, 64.0), shape=(32, 32, 32))
    results: dict = {"n_cases": len(cohort), "torch_threads": args.threads, "device": args.device}
    results["crop"] = crop.to_dict()

    t0 = time.perf_counter()
    for case in cohort.cases():
        case_crop(case, crop)
    results["crops_only_cases_per_s"] = round(len(cohort) / (time.perf_counter() - t0), 2)

    for name, cfg in {
        "resnet3d_w16_4stages": ResNetConfig(base_width=16, blocks=(1, 1, 1, 1)),
        "resnet3d_w32_4stages": ResNetConfig(base_width=32, blocks=(2, 2, 2, 2)),
    }.items():
        enc = ResNetEncoder(cfg, seed=0)
        cache = args.out / f"cache_{name}"
        shutil.rmtree(cache, ignore_errors=True)
        t0 = time.perf_counter()
        table = extract_embeddings(
            cohort, enc, crop, cache_dir=cache, device=args.device, progress=False
        )
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        extract_embeddings(cohort, enc, crop, cache_dir=cache, device=args.device, progress=False)
        warm = time.perf_counter() - t0
        results[name] = {
            "dim": table.shape[1],
            "cold_cases_per_s": round(len(cohort) / cold, 2),
            "warm_cache_cases_per_s": round(len(cohort) / warm, 2),
        }
    print(json.dumps(results, indent=2))
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
