"""Federated study: rounds and wall time to convergence, bytes per round against data size.

Run: ``python benchmarks/bench_federated.py [--flower]`` (SYNTHETIC site cohorts).

* In-process (``LocalRunner``: the algorithms' own cost, no transport) for 3 and 10 sites of
  200 patients, the whole default study (checks, statistics, ComBat, Cox unstratified and
  stratified, logistic, Breslow, binned validation, leave-one-site-out).
* Bytes per round from the audit log for 3 sites of 100-800 patients, against the size of the
  sites' design matrices (float64).
* ``--flower``: the same 3 x 200 study over Flower's deployment processes on this machine
  (SuperLink, 3 SuperNodes, ``flwr run``), wall time and rounds.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radiopredict.federated import LocalRunner, SiteData, make_site_tables, write_site_tables
from radiopredict.federated.study import FederatedSettings, run_study


def _sites(n_sites: int, n: int, seed: int = 0) -> tuple[list[SiteData], int]:
    tabs = make_site_tables(n_sites, n, 6, seed=seed)
    sites = [
        SiteData(
            k,
            v.filter(like="rad__"),
            event=v.event.to_numpy(),
            time=v.time.to_numpy(),
            response=v.response.to_numpy(),
            batch=v.batch.to_numpy(),
        )
        for k, v in tabs.items()
    ]
    data_bytes = sum(
        v.drop(columns=["patient_id", "batch"]).to_numpy(float).nbytes for v in tabs.values()
    )
    return sites, data_bytes


def in_process(n_sites: int, n: int, repeats: int = 3) -> dict:
    walls = []
    for _ in range(repeats):
        sites, data_bytes = _sites(n_sites, n)
        runner = LocalRunner(sites)
        t0 = time.perf_counter()
        res = run_study(runner, FederatedSettings())
        walls.append(time.perf_counter() - t0)
    audit = runner.audit.to_frame()
    per_round = audit.groupby("round")["bytes"].sum()
    return {
        "sites": n_sites,
        "patients_per_site": n,
        "rounds_total": int(runner.audit.round),
        "cox_newton_rounds": res.cox.n_rounds,
        "wall_s_best": min(walls),
        "wall_s_median": float(np.median(walls)),
        "bytes_total": int(audit["bytes"].sum()),
        "bytes_per_round_median": int(per_round.median()),
        "bytes_per_round_max": int(per_round.max()),
        "largest_round_kind": audit.loc[audit["round"] == per_round.idxmax(), "kind"].iloc[0],
        "data_bytes": data_bytes,
    }


def flower(n_sites: int, n: int) -> dict:
    from radiopredict.federated.flower import simulate

    with tempfile.TemporaryDirectory() as tmp:
        csvs = write_site_tables(Path(tmp) / "sites", n_sites=n_sites, n_per_site=n, seed=0)
        t0 = time.perf_counter()
        status = simulate(csvs, Path(tmp) / "out", {}, workdir=Path(tmp) / "work", timeout=300)
        wall = time.perf_counter() - t0
        audit = pd.read_csv(Path(tmp) / "out" / "audit.csv")
    return {
        "sites": n_sites,
        "patients_per_site": n,
        "ok": status["ok"],
        "rounds_total": int(audit["round"].max()),
        "wall_s": wall,
        "s_per_round": wall / audit["round"].max(),
    }


def dp_cost(epsilons=(0.5, 1.0, 2.0, 5.0), seeds=(0, 1, 2, 3, 4)) -> pd.DataFrame:
    """Accuracy cost of Gaussian-mechanism DP on the validation counts (3 x 200 patients)."""
    rows = []
    for eps in epsilons:
        km_d, c_d = [], []
        for seed in seeds:
            sites, _ = _sites(3, 200, seed=seed)
            kw = {"loso": False, "response": False, "stratified": False}
            exact = run_study(LocalRunner(sites), FederatedSettings(**kw))
            noisy = run_study(LocalRunner(sites), FederatedSettings(dp_epsilon=eps, **kw))
            km_d.append(
                np.max(np.abs(exact.validation.km["survival"] - noisy.validation.km["survival"]))
            )
            c_d.append(abs(exact.validation.cindex - noisy.validation.cindex))
        rows.append(
            {
                "epsilon": eps,
                "delta": 1e-5,
                "sigma": np.sqrt(2 * np.log(1.25e5)) / eps,
                "km_max_abs_diff_mean": float(np.mean(km_d)),
                "km_max_abs_diff_max": float(np.max(km_d)),
                "cindex_abs_diff_mean": float(np.mean(c_d)),
                "cindex_abs_diff_max": float(np.max(c_d)),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flower", action="store_true", help="also run over Flower processes")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or 'cpu'}")
    rows = [in_process(3, 200), in_process(10, 200)]
    print("\nwhole study, in process (SYNTHETIC cohorts)")
    print(pd.DataFrame(rows).to_string(index=False))
    size = [in_process(3, n, repeats=1) for n in (100, 200, 400, 800)]
    cols = [
        "patients_per_site",
        "data_bytes",
        "rounds_total",
        "bytes_total",
        "bytes_per_round_median",
        "bytes_per_round_max",
        "largest_round_kind",
    ]
    print("\nbytes against data size (3 sites)")
    print(pd.DataFrame(size)[cols].to_string(index=False))
    print("\nGaussian-mechanism DP on the validation counts: cost over 5 seeds")
    print(dp_cost().to_string(index=False))
    if args.flower:
        print("\nover Flower (SuperLink + SuperNodes + flwr run on this machine)")
        print(pd.DataFrame([flower(3, 200)]).to_string(index=False))


if __name__ == "__main__":
    main()
