"""What a checkpoint needs and gives, as plain data (`describe`) and as text (`format_text`).

`describe(path)` reads a checkpoint of any domain (`Domain.describe` gives what differs) and reports: the
physics (registry name, variant and structure), the network, the BMI inputs a framework must set
(`needed_inputs`, with units and the CSV forcing columns that can feed each), how the model's daily inputs
are derived from them (e.g. the PET method), the time step, the BMI outputs with units, the catchment
attributes by name (BMI units, and the normalization mean / std the network saw, in the training table's
units), the training data and period, and the measured skill when the checkpoint records it
(`training["skill"]`, a mapping such as {"period": ..., "median_nse": ...}); otherwise skill is "not
recorded".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmg_bmi.attributes import parameter
from dmg_bmi.core import variables as V

NOT_RECORDED = "not recorded"


def _doc(kind: str, name: str) -> str:
    """First docstring line of a registered physics model or network, or '' for an unknown name."""
    from dmg_bmi.core import registry
    from dmg_bmi.errors import ConfigError

    try:
        doc = registry.get(kind, name).__doc__ or ""
    except ConfigError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _physics(ckpt, facts) -> dict[str, Any]:
    phy = ckpt.config.phy
    return {"name": phy.name, "variant": _doc("physics", phy.name), **facts.physics}


def _network(ckpt) -> dict[str, Any]:
    nn = ckpt.config.nn
    uses_lstm = any(k.startswith("nn.lstm.") for k in ckpt.state_dict)
    why = ("its dynamic parameters come from the per-step MLP" if ckpt.config.phy.dynamic_params
           else "no dynamic parameters")
    return {
        "name": nn.name, "description": _doc("nn", nn.name),
        "lstm": f"hidden {nn.hidden_size}" if uses_lstm else f"not built ({why})",
        "static_head": f"MLP {nn.mlp_layers} x {nn.mlp_hidden_size}" if nn.name != "lstm" else "linear",
        "forcings": list(ckpt.nn_forcings), "attributes": list(ckpt.nn_attributes),
        "weights": int(sum(t.numel() for k, t in ckpt.state_dict.items() if k.startswith("nn."))),
        "dtype": ckpt.config.dtype,
    }


def _attributes(ckpt, config_keys: dict[str, str]) -> list[dict[str, Any]]:
    """The BMI config keys the checkpoint reads (e.g. area_km2, latitude; `CheckpointFacts.config_keys`),
    then every attribute the checkpoint needs (one row a name)."""
    names = list(dict.fromkeys([*config_keys, *ckpt.nn_attributes, *ckpt.phy_attributes]))
    rows = []
    for name in names:
        used = [what for what, group in ((config_keys.get(name), [name]), ("network", ckpt.nn_attributes),
                                         ("physics", ckpt.phy_attributes)) if what and name in group]
        row: dict[str, Any] = {"name": name, "units": parameter(name).units, "used_by": used}
        stats = ckpt.normalization.stats.get(name)
        if stats is not None and name in ckpt.nn_attributes:
            row.update(mean=stats.mean, std=stats.std, log_norm=stats.log_norm)
        rows.append(row)
    return rows


def _training(ckpt) -> dict[str, Any]:
    training = ckpt.training or {}
    data = (training.get("experiment") or {}).get("data") or {}
    train = (training.get("experiment") or {}).get("train") or {}

    def period(p):
        return f"{p['start']}..{p['end']}" if isinstance(p, dict) and "start" in p else NOT_RECORDED

    info: dict[str, Any] = {
        "data": data.get("path", NOT_RECORDED), "kind": data.get("kind", NOT_RECORDED),
        "train_period": period(data.get("train")), "test_period": period(data.get("test")),
    }
    if data.get("valid"):
        info["valid_period"] = period(data.get("valid"))
    if "basins" in training:
        info["basins"] = len(training["basins"])
    if training.get("valid_basins"):
        info["valid_basins"] = len(training["valid_basins"])
    if "fields" in training:
        info["fields"] = len(training["fields"])
        info["test_fields"] = len(training.get("test_fields") or [])
        info["observations"] = list(training.get("observations") or [])
    for key in ("epoch", "best_loss", "note"):
        if key in training:
            info[key] = training[key]
    if "loss" in train:
        info["loss"] = train["loss"]
    selection = training.get("selection")
    if selection:
        from dmg_bmi.core.train.selection import Selection

        info["selection"] = Selection.from_dict(selection).describe()
    return info


def describe(path: str | Path) -> dict[str, Any]:
    """Everything `dmg-bmi inspect` prints about the checkpoint at `path`, as JSON-ready plain data."""
    from dmg_bmi.core.checkpoint import load_checkpoint, require_config_inputs
    from dmg_bmi.domains import domain_or_core
    from dmg_bmi.ngen.needs import needed_inputs

    ckpt = load_checkpoint(path)
    require_config_inputs(ckpt)  # what the BMI and simulate would refuse, inspect names too
    domain = domain_or_core(ckpt.config.phy.name)
    facts = domain.describe(ckpt)
    skill = (ckpt.training or {}).get("skill")
    own = {v.name: v for v in (*domain.variables, *facts.variables)}  # the domain's and its session's
    return {
        "checkpoint": str(path), "package_version": ckpt.package_version,
        "kind": facts.kind,
        "physics": _physics(ckpt, facts),
        "network": _network(ckpt),
        "time_step": facts.time_step,
        "inputs": [{"name": n, "units": V.BY_NAME[n].units, "csv_columns": list(V.FORCING_COLUMNS.get(n, ()))}
                   for n in needed_inputs(Path(path))],
        "derivation": {"pet_method": facts.pet_method,
                       "model_inputs": list(ckpt.phy_forcings), **ckpt.derivations},
        "outputs": [{"name": n, "units": (own.get(n) or V.BY_NAME[n]).units} for n in facts.outputs],
        "attributes": _attributes(ckpt, facts.config_keys),
        "training": _training(ckpt),
        "skill": skill if skill else NOT_RECORDED,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) or "none"
    return str(value)


def format_text(info: dict[str, Any]) -> str:
    """The human-readable report of `describe`'s data."""
    phy, net, train = info["physics"], info["network"], info["training"]
    lines = [f"checkpoint   {info['checkpoint']} (dmg_bmi {info['package_version']}), {info['kind']}",
             f"physics      {phy['name']}: {phy['variant']}"]
    lines += [f"             {key.replace('_', ' ')}: {_fmt(value)}" for key, value in phy.items()
              if key not in ("name", "variant")]
    lines += [f"network      {net['name']}: {net['description']}",
              f"             LSTM {net['lstm']}; static head {net['static_head']}; {net['weights']} weights "
              f"({net['dtype']})",
              f"             sees forcings: {_fmt(net['forcings'])}",
              f"time step    {info['time_step']}",
              "inputs       BMI inputs the framework sets every step (units; CSV columns that can feed it):"]
    width = max((len(i["name"]) for i in info["inputs"]), default=0)
    lines += [f"  {i['name']:<{width}}  {i['units']:<8}  {_fmt(i['csv_columns'])}" for i in info["inputs"]]
    deriv = info["derivation"]
    lines += [f"derivation   daily model inputs {_fmt(deriv['model_inputs'])}"
              + (f"; PET method {deriv['pet_method']}" if deriv["pet_method"] else "")]
    lines += [f"             {key}: {_fmt(value)}" for key, value in deriv.items()
              if key not in ("pet_method", "model_inputs")]
    lines.append("outputs      BMI outputs (units):")
    width = max((len(o["name"]) for o in info["outputs"]), default=0)
    lines += [f"  {o['name']:<{width}}  {o['units']}" for o in info["outputs"]]
    lines.append("attributes   BMI config keys and attributes by name (BMI units; normalization mean / std "
                 "in training units):")
    width = max(len(a["name"]) for a in info["attributes"])
    for a in info["attributes"]:
        stats = f"  mean {a['mean']:.6g}, std {a['std']:.6g}" if "mean" in a else ""
        log = " (log-normalized)" if a.get("log_norm") else ""
        lines.append(f"  {a['name']:<{width}}  {a['units']:<12}  {', '.join(a['used_by'])}{stats}{log}")
    data = " + ".join(train["data"]) if isinstance(train["data"], list) else train["data"]
    lines.append(f"training     data {data} ({train['kind']}); train {train['train_period']}, "
                 f"test {train['test_period']}")
    extra = {k: v for k, v in train.items() if k not in ("data", "kind", "train_period", "test_period")}
    if extra:
        lines.append(f"             {_fmt(extra)}")
    lines.append(f"skill        {_fmt(info['skill'])}")
    return "\n".join(lines)
