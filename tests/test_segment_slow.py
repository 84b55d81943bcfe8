"""Slow: a U-Net trained on synthetic CT segments held-out tumours with Dice >= 0.8."""

from __future__ import annotations

import pytest

from radiopredict.cohort import Cohort

pytest.importorskip("torch")
pytest.importorskip("monai")


@pytest.mark.slow
def test_trained_unet_segments_synthetic_tumours(tmp_path):
    from radiopredict.datasets import make_synthetic_cohort
    from radiopredict.segment import (
        Preprocessing,
        TrainSettings,
        UNetConfig,
        predict_masks,
        qc_table,
        train_unet,
    )

    table = Cohort.read(make_synthetic_cohort(tmp_path / "c", n_patients=18, seed=3)).table
    table["label"] = None  # whole tumour: label 1 and its necrotic core (label 2)
    cohort = Cohort.from_dataframe(table)
    train, test = cohort.subset(cohort.patient_ids[:14]), cohort.subset(cohort.patient_ids[14:])
    model = train_unet(
        train,
        UNetConfig(spatial_dims=3, base_filters=8, depth=3),
        TrainSettings(
            patch_size=(16, 32, 32),
            batch_size=4,
            max_epochs=10,
            steps_per_epoch=20,
            patience=4,
            val_fraction=0.15,
            seed=0,
            device="cpu",
            num_threads=1,
        ),
        preprocessing=Preprocessing(intensity="window", window=(-300.0, 400.0)),
        progress=False,
    )
    predicted = predict_masks(
        test, model, tmp_path / "pred", device="cpu", num_threads=1, progress=False
    )
    qc = qc_table(predicted, reference=test)
    assert qc["dice"].min() >= 0.7, qc
    assert qc["dice"].mean() >= 0.8, qc
