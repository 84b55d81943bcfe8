"""Train a small U-Net on a synthetic cohort, segment held-out patients, QC the masks, embed.

Usage: ``python examples/segment_and_embed.py [OUT_DIR]`` (a temporary folder by default).
Runs in under a minute on one CPU core: the network is small and trains for 80 steps, so the Dice
printed here is below what a longer run reaches (see ``benchmarks/bench_segment.py``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

from radiopredict import Cohort, make_synthetic_cohort
from radiopredict.embed import (
    AutoencoderSettings,
    CropSettings,
    ResNetConfig,
    UNetEncoder,
    extract_embeddings,
    train_autoencoder,
)
from radiopredict.segment import (
    Preprocessing,
    SegmentationModel,
    TrainSettings,
    UNetConfig,
    predict_masks,
    qc_table,
    train_unet,
)


def main(out: Path) -> None:
    manifest = make_synthetic_cohort(out / "cohort", n_patients=10, seed=0)
    table = Cohort.read(manifest).to_dataframe()
    table["label"] = None  # whole tumour (label 1 rim + label 2 necrotic core)
    cohort = Cohort.from_dataframe(table)
    train = cohort.subset(cohort.patient_ids[:7])
    test = cohort.subset(cohort.patient_ids[7:])

    model = train_unet(
        train,
        UNetConfig(spatial_dims=3, base_filters=8, depth=3),
        TrainSettings(
            patch_size=(16, 32, 32),
            batch_size=4,
            max_epochs=4,
            steps_per_epoch=20,
            seed=0,
            device="auto",
            num_threads=1,
        ),
        preprocessing=Preprocessing(intensity="window", window=(-300.0, 400.0)),
        progress=False,
    )
    print("training history:", [round(h.get("val_dice", float("nan")), 3) for h in model.history])
    model.save(out / "unet")
    model = SegmentationModel.load(out / "unet.json")

    predicted = predict_masks(test, model, out / "pred", num_threads=1, progress=False)
    qc = qc_table(predicted, reference=test)
    with pd.option_context("display.width", 160, "display.max_columns", 10):
        print(qc.reset_index()[["patient_id", "volume_mm3", "dice", "hd95_mm", "flags"]])

    crop = CropSettings(size_mm=(64.0, 64.0, 64.0), shape=(16, 32, 32))
    unet_emb = extract_embeddings(
        predicted, UNetEncoder(model), crop, cache_dir=out / "cache", progress=False
    )
    print("U-Net bottleneck embeddings:", unet_emb.shape)

    encoder = train_autoencoder(
        cohort,  # no outcome is read: all patients may be used
        crop,
        ResNetConfig(base_width=4, blocks=(1, 1, 1)),
        AutoencoderSettings(epochs=2, batch_size=5, seed=0, num_threads=1),
        progress=False,
    )
    ae_emb = extract_embeddings(cohort, encoder, crop, progress=False)
    ae_emb.to_csv(out / "embeddings.csv")
    print("autoencoder embeddings:", ae_emb.shape, "->", out / "embeddings.csv")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        main(target)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
