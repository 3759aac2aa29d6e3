"""Checkpoints: round trip, weights_only loading, atomic writes, a clear error for each kind of bad file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from conftest import REPO
from test_delta import NA, NX, build, config, data  # also registers the "test_bucket" physics

from dmg_bmi import __version__
from dmg_bmi.core.checkpoint import FORMAT_VERSION, Checkpoint, _digest, load_checkpoint, save_checkpoint
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.core.train.checkpoints import load_training_checkpoint
from dmg_bmi.domains.crop.checkpoint import build_crop_model, is_crop
from dmg_bmi.errors import CheckpointError

FORCINGS = ["P", "T", "PET", "tmax"]
ATTRS = ["aridity", "elev", "area"]


def normalizer():
    rng = np.random.default_rng(0)
    return Normalizer.fit({n: rng.normal(size=50) for n in FORCINGS + ATTRS}, log_norm=["P"])


@pytest.fixture
def saved(tmp_path):
    model = build(config())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_nn, c_nn, x_phy, attrs = data()
    model(x_nn, c_nn, x_phy, attrs)[0]["streamflow"].sum().backward()
    opt.step()
    path = save_checkpoint(
        tmp_path / "run" / "model.pt", model, normalizer(),
        nn_forcings=FORCINGS, nn_attributes=ATTRS,
        derivations={"PET": {"method": "hamon"}, "P": {"method": "sum", "from": "precip_rate"}},
        training={"epoch": 3, "metrics": {"nse": 0.71}}, optimizer_state=opt.state_dict(),
    )
    return path, model


def test_round_trip(saved):
    path, model = saved
    ckpt = load_checkpoint(path)
    assert ckpt.format_version == FORMAT_VERSION and ckpt.package_version == __version__
    assert ckpt.config == model.cfg
    assert ckpt.nn_forcings == FORCINGS and ckpt.nn_attributes == ATTRS
    assert ckpt.phy_forcings == ["P", "PET"] and ckpt.phy_attributes == ["scale"]
    assert ckpt.outputs == ["streamflow", "AET"]
    assert ckpt.derivations["PET"] == {"method": "hamon"}
    assert ckpt.training == {"epoch": 3, "metrics": {"nse": 0.71}}
    assert ckpt.normalization.stats == normalizer().stats
    assert ckpt.optimizer_state["state"][0]["step"] == 1
    rebuilt = ckpt.build_model()
    assert not rebuilt.training
    x_nn, c_nn, x_phy, attrs = data()
    a, _ = model.eval()(x_nn, c_nn, x_phy, attrs)
    b, _ = rebuilt(x_nn, c_nn, x_phy, attrs)
    torch.testing.assert_close(a["streamflow"], b["streamflow"], atol=0, rtol=0)
    # resuming: the optimizer state loads into an optimizer over the rebuilt model
    opt = torch.optim.Adam(rebuilt.parameters(), lr=1e-3)
    opt.load_state_dict(ckpt.optimizer_state)
    # and dtype can be overridden
    assert next(ckpt.build_model(dtype=torch.float32).parameters()).dtype == torch.float32


def test_plain_weights_only_load_and_no_temp_files(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "dmg_bmi.checkpoint"
    assert os.listdir(path.parent) == ["model.pt"]


def test_atomic_write_keeps_old_file_on_failure(saved, monkeypatch):
    path, model = saved
    before = path.read_bytes()

    def boom(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, normalizer(), nn_forcings=FORCINGS, nn_attributes=ATTRS)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.pt"]


def test_training_metadata_of_any_plain_shape(tmp_path):
    """Mixed-type keys, tuples, None, NaN and small tensors in `training` survive and pass the digest."""
    model = build(config())
    training = {"epoch": 2, "loss_by_basin": {0: 0.5, "b": float("nan")}, "lrs": (0.1, 0.05), "best": None,
                "rng": torch.arange(3)}
    path = save_checkpoint(tmp_path / "m.pt", model, normalizer(), nn_forcings=FORCINGS, nn_attributes=ATTRS,
                           training=training)
    back = load_checkpoint(path).training
    assert back["loss_by_basin"][0] == 0.5 and np.isnan(back["loss_by_basin"]["b"])
    assert back["lrs"] == (0.1, 0.05) and back["best"] is None and back["rng"].tolist() == [0, 1, 2]


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("keep", [lambda n: 0, lambda n: 2, lambda n: 100, lambda n: n // 2,
                                  lambda n: n - 10])
def test_truncated(saved, tmp_path, keep):
    path, _ = saved
    raw = path.read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(raw[: keep(len(raw))])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(bad)


def test_corrupt_random_bytes(tmp_path):
    bad = tmp_path / "rand.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)


def test_corrupt_flipped_weight_byte(saved, tmp_path):
    """A damaged weight inside an otherwise valid archive is caught by the digest."""
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    raw = bytearray(path.read_bytes())
    marker = payload["state_dict"]["nn.linear_out.weight"].numpy().tobytes()
    at = bytes(raw).find(marker)
    assert at > 0
    raw[at + 1] ^= 0x40
    bad = tmp_path / "flip.pt"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt.*sha256"):
        load_checkpoint(bad)


def _flip_tensor_byte(path, tensor, out):
    raw = bytearray(path.read_bytes())
    at = bytes(raw).find(tensor.numpy().tobytes())
    assert at > 0
    raw[at + 1] ^= 0x40
    out.write_bytes(bytes(raw))
    return out


def test_a_flipped_byte_in_the_optimizer_state_is_caught(saved, tmp_path):
    path, _ = saved
    exp_avg = torch.load(path, weights_only=True)["optimizer"]["state"][0]["exp_avg"]
    bad = _flip_tensor_byte(path, exp_avg, tmp_path / "opt.pt")
    with pytest.raises(CheckpointError, match=f"{bad}: corrupt checkpoint: .*sha256"):
        load_checkpoint(bad)


def test_non_finite_weights_or_optimizer_state_are_refused_with_their_names(saved, tmp_path):
    path, model = saved
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["nn.linear_out.weight"][0, 0] = float("nan")
    payload["state_dict"]["nn.static_head.out.bias"][0] = float("inf")
    payload["sha256"] = _digest(payload)  # a valid digest: only the values are wrong
    bad = tmp_path / "nan.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=f"{bad}: non-finite values") as info:
        load_checkpoint(bad)
    assert "'nn.linear_out.weight'" in str(info.value) and "'nn.static_head.out.bias'" in str(info.value)
    payload = torch.load(path, weights_only=True)
    payload["optimizer"]["state"][0]["exp_avg"][0] = float("nan")
    payload["sha256"] = _digest(payload)
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=rf"{bad}: non-finite values .*\['optimizer.state.0.exp_avg'\]"):
        load_checkpoint(bad)
    # and they are never written: a diverged model is refused on save, and no file appears
    with torch.no_grad():
        model.nn.linear_out.weight.fill_(float("nan"))
    target = tmp_path / "diverged.pt"
    with pytest.raises(CheckpointError, match=rf"cannot save {target}: non-finite .*'nn.linear_out.weight'"):
        save_checkpoint(target, model, normalizer(), nn_forcings=FORCINGS, nn_attributes=ATTRS)
    assert not target.exists()


def test_format_1_files_load_without_their_undigested_optimizer_state(saved, tmp_path):
    """Format 1 digested all but the optimizer: the weights still load, the optimizer state is never used."""
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 1
    payload["sha256"] = _digest(payload)
    old = tmp_path / "v1.pt"
    torch.save(payload, old)
    flipped = _flip_tensor_byte(old, payload["optimizer"]["state"][0]["exp_avg"], tmp_path / "v1flip.pt")
    for file in (old, flipped):
        ckpt = load_checkpoint(file)
        assert ckpt.format_version == 1 and ckpt.optimizer_state is None
        assert ckpt.state_dict.keys() == payload["state_dict"].keys()
        with pytest.raises(CheckpointError, match=f"{file}: written in checkpoint format 1, whose digest "
                                                  "does not cover the optimizer state; resuming from it is "
                                                  "refused"):
            load_training_checkpoint(file)
    resaved = ckpt.save(tmp_path / "v2.pt")  # re-saved from its own content: the current format
    assert torch.load(resaved, weights_only=True)["format_version"] == FORMAT_VERSION == 2
    # the shipped checkpoints (formats 1 and 2) load without optimizer state and build
    shipped = sorted((REPO / "bmi_configs").glob("*.pt"))
    assert len(shipped) >= 4
    for file in shipped:
        ckpt = load_checkpoint(file)
        assert ckpt.format_version in (1, 2) and ckpt.optimizer_state is None
        model = build_crop_model(ckpt) if is_crop(ckpt) else ckpt.build_model()
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_not_a_dmg_bmi_checkpoint(saved, tmp_path):
    path, model = saved
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    with pytest.raises(CheckpointError, match="not a dmg_bmi checkpoint"):
        load_checkpoint(plain)
    # a pickled arbitrary object is refused, never unpickled
    foreign = tmp_path / "obj.pt"
    torch.save({"format": "dmg_bmi.checkpoint", "x": Checkpoint}, foreign)
    with pytest.raises(CheckpointError, match="not a dmg_bmi checkpoint.*never unpickled"):
        load_checkpoint(foreign)


def test_incompatible_format_version(saved, tmp_path):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    newer = tmp_path / "newer.pt"
    torch.save(payload, newer)
    with pytest.raises(CheckpointError, match=f"incompatible checkpoint format version {FORMAT_VERSION + 1}"):
        load_checkpoint(newer)


def test_weights_not_matching_config(saved):
    path, _ = saved
    ckpt = load_checkpoint(path)
    ckpt.config.nn.hidden_size = 16
    with pytest.raises(CheckpointError, match="weights do not match.*'nn.linear_in.weight'.*shape"):
        ckpt.build_model()
    ckpt = load_checkpoint(path)
    del ckpt.state_dict["nn.static_head.out.bias"]
    with pytest.raises(CheckpointError, match="missing key 'nn.static_head.out.bias'"):
        ckpt.build_model()
    ckpt = load_checkpoint(path)
    ckpt.state_dict["nn.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected key 'nn.extra'"):
        ckpt.build_model()
    ckpt = load_checkpoint(path)
    ckpt.config.phy.name = "gone"
    with pytest.raises(CheckpointError, match="cannot build.*'gone'"):
        ckpt.build_model()


def test_invalid_metadata_is_reported(saved, tmp_path):
    """A checkpoint whose config no longer validates names the key (digest recomputed to get past it)."""
    path, _ = saved
    ckpt = load_checkpoint(path)
    payload = ckpt.to_payload()
    payload["config"]["nn"]["hiden_size"] = 3
    payload["sha256"] = _digest(payload)
    bad = tmp_path / "cfg.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="config.nn.hiden_size"):
        load_checkpoint(bad)


def test_save_checks_names(tmp_path):
    model = build(config())
    with pytest.raises(CheckpointError, match="nn_forcings has 2 names"):
        save_checkpoint(tmp_path / "m.pt", model, normalizer(), nn_forcings=["P", "T"], nn_attributes=ATTRS)
    with pytest.raises(CheckpointError, match=r"normalization statistics.*\['z'\]"):
        save_checkpoint(tmp_path / "m.pt", model, normalizer(), nn_forcings=FORCINGS,
                        nn_attributes=["aridity", "elev", "z"])
    assert not (tmp_path / "m.pt").exists()
    assert NX == len(FORCINGS) and NA == len(ATTRS)
