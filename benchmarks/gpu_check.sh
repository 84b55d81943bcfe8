#!/usr/bin/env bash
# GPU smoke check + timings of the deep paths (U-Net forward/backward, sliding-window inference,
# short training, embeddings, the CNN classifier on ROI crops). Run from the repository root on a CUDA machine:
#
#     bash benchmarks/gpu_check.sh            # uses $PYTHON or python
#
# Needs torch (CUDA build), monai, SimpleITK, numpy, pandas, safetensors importable; the package
# is taken from the checkout (PYTHONPATH=.). Designed to finish in well under 4 minutes.
# GPU_CHECK_DRY=1 runs the same code paths on CPU with tiny sizes (to check the script itself).
set -euo pipefail
PY="${PYTHON:-python}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv || true
export PYTHONPATH="${PWD}${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
timeout 230 "$PY" - "$OUT" <<'EOF'
import json, os, sys, time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

out = Path(sys.argv[1])
DRY = os.environ.get("GPU_CHECK_DRY") == "1"
if DRY:
    torch.set_num_threads(1)
    CUDA, dev, S, N, EPOCHS = "cpu", torch.device("cpu"), 32, 6, 1
    res = {"gpu": "none (dry run on CPU)", "torch": torch.__version__}
else:
    assert torch.cuda.is_available(), "CUDA is not available"
    CUDA, dev, S, N, EPOCHS = "cuda", torch.device("cuda"), 96, 24, 15
    res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    from radiopredict._torch import resolve_device
    assert resolve_device("auto").type == "cuda"

from radiopredict.segment import (Preprocessing, SegmentationModel, TrainSettings, UNetConfig,
                                  build_unet, predict_masks, qc_table, train_unet)

def sync():
    if not DRY:
        torch.cuda.synchronize()

# 1. forward/backward of a 3D U-Net (16 filters, depth 4) on a batch of 2 x 96^3
net = build_unet(UNetConfig(base_filters=16, depth=4)).to(dev)
x = torch.randn(2, 1, S, S, S, device=dev)
opt = torch.optim.Adam(net.parameters())
for i in range(6):
    if i == 1:
        sync(); t0 = time.perf_counter()
    opt.zero_grad(); net(x).mean().backward(); opt.step()
sync()
res[f"unet_fwd_bwd_s_per_step_2x{S}cube"] = round((time.perf_counter() - t0) / 5, 4)

# 2. sliding-window inference (Gaussian) on a 128^3 volume, GPU vs CPU (same model)
model = SegmentationModel(UNetConfig(base_filters=8, depth=3), Preprocessing(), (16, 32, 32))
img = sitk.GetImageFromArray(np.random.default_rng(0).normal(0, 50, (128 if not DRY else 48,) * 3).astype(np.float32))
model.predict_image(img, device=CUDA)  # warm-up
sync(); t0 = time.perf_counter()
gpu_mask = model.predict_image(img, device=CUDA)
sync(); res["infer_128cube_s_cuda"] = round(time.perf_counter() - t0, 3)
t0 = time.perf_counter()
cpu_mask = model.predict_image(img, device="cpu")
res["infer_128cube_s_cpu"] = round(time.perf_counter() - t0, 3)
a, b = sitk.GetArrayFromImage(gpu_mask), sitk.GetArrayFromImage(cpu_mask)
res["cuda_cpu_label_agreement"] = float((a == b).mean())

# 3. short training on a synthetic cohort on CUDA, Dice on held-out cases
from radiopredict import Cohort, make_synthetic_cohort
table = Cohort.read(make_synthetic_cohort(out / "cohort", n_patients=N, seed=0)).table
table["label"] = None
cohort = Cohort.from_dataframe(table)
ids = cohort.patient_ids
train, test = cohort.subset(ids[: N - N // 4]), cohort.subset(ids[N - N // 4 :])
t0 = time.perf_counter()
m = train_unet(train, UNetConfig(base_filters=16, depth=3),
               TrainSettings(patch_size=(16, 32, 32), batch_size=8, max_epochs=EPOCHS,
                             steps_per_epoch=20 if not DRY else 2, patience=6, device=CUDA, seed=0,
                             time_budget_s=60),
               preprocessing=Preprocessing(intensity="window", window=(-300.0, 400.0)),
               progress=False)
res["train_cuda_s"] = round(time.perf_counter() - t0, 1)
res["train_epochs"] = len(m.history)
pred = predict_masks(test, m, out / "pred", device=CUDA, progress=False, overwrite=True)
res["heldout_dice_mean"] = round(float(qc_table(pred, reference=test)["dice"].mean()), 4)

# 4. embeddings on CUDA vs CPU (ResNet + U-Net encoder)
from radiopredict.embed import CropSettings, ResNetEncoder, UNetEncoder, extract_embeddings
crop = CropSettings(size_mm=(64.0,) * 3, shape=(32, 32, 32))
enc = ResNetEncoder(seed=0)
extract_embeddings(cohort.subset(ids[:2]), enc, crop, device=CUDA, progress=False)
t0 = time.perf_counter()
e_gpu = extract_embeddings(cohort, enc, crop, device=CUDA, progress=False)
res["embed_cases_per_s_cuda"] = round(len(cohort) / (time.perf_counter() - t0), 2)
t0 = time.perf_counter()
e_cpu = extract_embeddings(cohort, enc, crop, device="cpu", progress=False)
res["embed_cases_per_s_cpu"] = round(len(cohort) / (time.perf_counter() - t0), 2)
res["embed_cuda_vs_cpu_max_abs_diff"] = float(np.abs(e_gpu.to_numpy() - e_cpu.to_numpy()).max())
u = extract_embeddings(cohort, UNetEncoder(m), crop, device=CUDA, progress=False)
res["unet_embedding_shape"] = list(u.shape)

# 5. CNN classifier (diagnosis task) on CUDA vs CPU: fit time, held-out AUC, agreement
from sklearn.metrics import roc_auc_score
from radiopredict.models import CNNClassifier, cohort_crops
NC = 8 if DRY else 200
make_synthetic_cohort(out / "diag", n_patients=NC, seed=0, diagnosis=True)
dcoh = Cohort.read(out / "diag" / "manifest_diagnosis.csv")
dy = dcoh.binary_target()
dcrop = CropSettings(size_mm=(48.0,) * 3, shape=(32,) * 3, include_mask=True,
                     intensity="window", window=(-1000.0, 400.0))
X = cohort_crops(dcoh, dcrop)
cut = NC - NC // 4
kw = dict(epochs=EPOCHS if DRY else 40, validation_fraction=0.0, time_budget_s=None,
          random_state=0)
sync(); t0 = time.perf_counter()
g = CNNClassifier(device=CUDA, **kw).fit(X[:cut], dy[:cut])
sync(); res["cnn_fit_s_cuda"] = round(time.perf_counter() - t0, 1)
res["cnn_fit_device_ok"] = g.predict_proba(X[cut:]).shape == (NC - cut, 2)
if not DRY:
    res["cnn_heldout_auc_cuda_synthetic"] = round(float(roc_auc_score(dy[cut:], g.decision_function(X[cut:]))), 4)
t0 = time.perf_counter()
c = CNNClassifier(device="cpu", num_threads=os.cpu_count(), **{**kw, "epochs": 2})
c.fit(X[:cut], dy[:cut])
res["cnn_fit_s_cpu_2_epochs_all_threads"] = round(time.perf_counter() - t0, 1)
# the same weights give the same logits on CUDA and CPU (within float tolerance)
g_cpu = g.set_params(device="cpu").decision_function(X[cut:])
g_gpu = g.set_params(device=CUDA).decision_function(X[cut:])
res["cnn_cuda_vs_cpu_max_abs_logit_diff"] = float(np.abs(g_cpu - g_gpu).max())
print(json.dumps(res, indent=2))
(out / "gpu_check.json").write_text(json.dumps(res, indent=2))
EOF
