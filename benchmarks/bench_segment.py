"""Segmentation benchmark: train on synthetic cases under a time budget, Dice on held-out cases,
and inference seconds per 128^3 volume.

Usage::

    nice .venv/bin/python benchmarks/bench_segment.py --n-train 40 --n-test 20 \
        --cpu-budget-s 600 --threads 1 --out /tmp/bench_segment

Prints a JSON summary (also written to ``OUT/results.json``). ``cpu_s`` is the process CPU time
(all threads), ``wall_s`` the elapsed time; on a shared machine report both.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-train", type=int, default=40)
    ap.add_argument("--n-test", type=int, default=20)
    ap.add_argument("--budget-s", type=float, default=None, help="training budget, wall seconds")
    ap.add_argument(
        "--cpu-budget-s", type=float, default=600.0, help="training budget, process CPU seconds"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--base-filters", type=int, default=8)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--patch", default="16,32,32")
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--infer-repeats", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true", help="only time 128^3 inference")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_segment"))
    args = ap.parse_args()

    import torch

    from radiopredict import Cohort, make_synthetic_cohort
    from radiopredict.segment import (
        Preprocessing,
        SegmentationModel,
        TrainSettings,
        UNetConfig,
        predict_masks,
        qc_table,
        train_unet,
    )

    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    cfg = UNetConfig(spatial_dims=3, base_filters=args.base_filters, depth=args.depth)
    patch = tuple(int(v) for v in args.patch.split(","))
    prep = Preprocessing(intensity="window", window=(-300.0, 400.0))
    results: dict = {
        "machine": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "device": args.device,
        "unet": cfg.to_dict(),
        "patch": list(patch),
    }
    if not args.skip_train:
        n = args.n_train + args.n_test
        manifest = make_synthetic_cohort(args.out / "cohort", n_patients=n, seed=args.seed)
        table = Cohort.read(manifest).table
        table["label"] = None  # whole tumour (rim + necrotic core)
        cohort = Cohort.from_dataframe(table)
        ids = cohort.patient_ids
        train, test = cohort.subset(ids[: args.n_train]), cohort.subset(ids[args.n_train :])
        c0, w0 = time.process_time(), time.perf_counter()
        model = train_unet(
            train,
            cfg,
            TrainSettings(
                patch_size=patch,
                batch_size=4,
                max_epochs=args.max_epochs,
                steps_per_epoch=20,
                patience=15,
                val_fraction=0.1,
                time_budget_s=args.budget_s,
                cpu_budget_s=args.cpu_budget_s,
                seed=args.seed,
                device=args.device,
                num_threads=args.threads,
            ),
            preprocessing=prep,
            progress=False,
        )
        results["train_cpu_s"] = round(time.process_time() - c0, 1)
        results["train_wall_s"] = round(time.perf_counter() - w0, 1)
        results["epochs"] = len(model.history)
        results["val_dice_by_epoch"] = [round(h.get("val_dice", -1), 3) for h in model.history]
        results["best_val_dice"] = model.training["best_val_dice"]
        model.save(args.out / "unet")
        c0, w0 = time.process_time(), time.perf_counter()
        pred = predict_masks(
            test, model, args.out / "pred", device=args.device, progress=False, overwrite=True
        )
        results["predict_wall_s_per_case"] = round((time.perf_counter() - w0) / len(test), 2)
        results["predict_cpu_s_per_case"] = round((time.process_time() - c0) / len(test), 2)
        qc = qc_table(pred, reference=test)
        qc.to_csv(args.out / "qc.csv")
        results["n_train"], results["n_test"] = len(train), len(test)
        results["test_dice_mean"] = round(float(qc["dice"].mean()), 4)
        results["test_dice_median"] = round(float(qc["dice"].median()), 4)
        results["test_dice_min"] = round(float(qc["dice"].min()), 4)
        results["test_hd95_mm_median"] = round(float(qc["hd95_mm"].median()), 2)
    else:
        model = SegmentationModel(cfg, prep, patch)

    # inference time on a 128^3 volume (synthetic noise + sphere; speed does not depend on it)
    rng = np.random.default_rng(0)
    vol = rng.normal(0, 50, (128, 128, 128)).astype(np.float32)
    image = sitk.GetImageFromArray(vol)
    times, cpu = [], []
    for _ in range(args.infer_repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        model.predict_image(image, device=args.device, overlap=0.5)
        times.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    results["infer_128cube_s"] = [round(t, 2) for t in times]
    results["infer_128cube_cpu_s"] = [round(t, 2) for t in cpu]
    results["infer_overlap"] = 0.5
    print(json.dumps(results, indent=2))
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
