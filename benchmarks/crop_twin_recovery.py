"""δWOFOST twin recovery: train an MLP on site attributes to predict TSUM1, SPAN, TDWI factors from sparse
noisy LAI/DVS/TAGP/TWSO observations of the crop twin; report correlations with the truth and TWSO-at-harvest
relative RMSE on held-out sites, with wall time.

Usage: python benchmarks/crop_twin_recovery.py [--sites 40] [--epochs 60] [--pcse-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dmg_bmi.config import ModelConfig, NNConfig, PhyConfig
from dmg_bmi.data import crop_twin as ct
from dmg_bmi.models.crop_delta import (
    CropDeltaModel,
    base_params,
    physics_attrs,
    physics_weather,
    sparse_obs_loss,
)

NN_ATTRS = ("lat", "lon", "elev", "cultivar_index", "soil_index", "seed_index", "crop_grain_maize",
            "crop_spring_barley", "crop_potato")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--pcse-dir", default="../shared/data/pcse_wofost72_pp")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    sets = ct.parameter_sets(tuple(ct.CROPS), args.pcse_dir)
    ds, truth = ct.simulate(ct.make_layout(args.sites, 3, seed=args.seed), sets, args.seed)
    print(f"twin: {ds.n_fields} fields, {ds.n_days} days, {time.perf_counter() - t0:.1f}s", flush=True)
    sites = np.array(sorted(set(ds.sites)))
    rng = np.random.default_rng(args.seed)
    test_sites = set(rng.choice(sites, size=max(1, len(sites) // 5), replace=False))
    is_test = np.array([s in test_sites for s in ds.sites])
    cfg = ModelConfig(phy=PhyConfig(name="wofost72_pp", options={"learned_params": {
        p: {"mode": "factor", "lo": 0.4, "hi": 1.6} for p in ct.VARYING_PARAMS}}),
        nn=NNConfig(name="mlp", mlp_hidden_size=32, mlp_layers=2), dtype="float64")
    model = CropDeltaModel.from_config(cfg, len(NN_ATTRS))
    c = ds.attribute_array(NN_ATTRS)
    c = (c - c[~is_test].mean(0)) / (c[~is_test].std(0) + 1e-9)
    c = torch.as_tensor(c)
    x = torch.as_tensor(physics_weather(ds))
    attrs = {k: torch.as_tensor(v) for k, v in physics_attrs(ds).items()}
    base = base_params(sets, ds.calendars)
    obs = torch.as_tensor(ds.observations.transpose(1, 0, 2))
    scales = torch.as_tensor(np.nanstd(ds.observations[~is_test], axis=(0, 1)))
    tr = torch.as_tensor(np.flatnonzero(~is_test))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    t1 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        opt.zero_grad()
        params = model.crop_params(model.learned_values(c[tr]), {k: v[tr] for k, v in base.items()})
        out, _ = model.phy(x[:, tr], params, {k: v[tr] for k, v in attrs.items()})
        loss = sparse_obs_loss(out, obs[:, tr], ds.obs_names, scales)
        loss.backward()
        opt.step()
        if epoch % 10 == 0 or epoch == 1:
            print(f"epoch {epoch} loss {loss.item():.4f} {time.perf_counter() - t1:.0f}s", flush=True)
    train_s = time.perf_counter() - t1
    with torch.no_grad():
        values = model.learned_values(c).numpy()
        params = model.crop_params(torch.as_tensor(values), base)
        out, _ = model.phy(x, params, attrs)
    true_f = ds.attribute_array([f"true_factor_{p}" for p in ct.VARYING_PARAMS])
    print(f"trained {args.epochs} epochs on {len(tr)} fields in {train_s:.0f}s "
          f"({torch.get_num_threads()} threads)")
    for k, p in enumerate(ct.VARYING_PARAMS):
        for tag, m in (("train", ~is_test), ("held-out sites", is_test)):
            r = np.corrcoef(values[m, k], true_f[m, k])[0, 1]
            print(f"{p:6s} {tag:15s} corr {r:.3f}")
    active = truth["ACTIVE"] > 0.5
    last = active.shape[1] - 1 - np.argmax(active[:, ::-1], axis=1)
    pred = out["TWSO"].numpy().T[np.arange(ds.n_fields), last]
    ref = truth["TWSO"][np.arange(ds.n_fields), last]
    for tag, m in (("train", ~is_test), ("held-out sites", is_test)):
        rel = np.sqrt(np.mean(((pred[m] - ref[m]) / ref[m]) ** 2))
        print(f"TWSO at harvest {tag:15s} rel RMSE {100 * rel:.1f} %")
    print(f"total wall time {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
