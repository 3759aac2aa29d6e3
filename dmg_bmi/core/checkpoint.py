"""One-file, self-describing checkpoints of a delta model.

The file is a `torch.save` zip archive of a dict holding only tensors and plain data (str, int, float, bool,
None, lists, dicts), so it is read with `torch.load(weights_only=True)` and never unpickles arbitrary objects:

    format            "dmg_bmi.checkpoint"
    format_version    int (FORMAT_VERSION; newer files are refused)
    package_version   dmg_bmi version that wrote it
    config            ModelConfig as a plain dict
    state_dict        {key: tensor} of the DeltaModel (CPU)
    normalization     Normalizer.to_dict() for the NN inputs
    variables         name lists: {"nn_forcings", "nn_attributes", "phy_forcings", "phy_attributes",
                      "outputs"}
    derivations       {input name: {"method": ..., ...}}, how each input is derived from raw forcings,
                      e.g. {"PET": {"method": "hamon"}}
    training          optional metadata (epoch, metrics, LR scheduler state, ...) or None
    optimizer         optional optimizer state_dict for resuming, or None
    sha256            digest of every entry above, checked on load

Format 1 (older files) digested everything but `optimizer`: such files still load, for their weights are
covered, but their optimizer state is dropped (`optimizer_state` is None), so nothing unverified is used.

Writes are atomic (temp file in the same directory, fsync, os.replace). Weights or optimizer state holding NaN
or inf are refused on save and on load. Every failure to load raises CheckpointError saying which: missing,
truncated, corrupt, not a dmg_bmi checkpoint, incompatible format version, non-finite values (naming the
tensors), or weights that do not match the config.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dmg_bmi import __version__
from dmg_bmi.atomic import atomic_path
from dmg_bmi.core.config import ModelConfig, from_dict, to_dict
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.errors import CheckpointError, DmgBmiError

FORMAT = "dmg_bmi.checkpoint"
FORMAT_VERSION = 2
_ZIP_MAGIC = b"PK\x03\x04"
_VARIABLE_KEYS = ("nn_forcings", "nn_attributes", "phy_forcings", "phy_attributes", "outputs")
_V1_DIGESTED = ("format", "format_version", "package_version", "config", "normalization", "variables",
                "derivations", "training")


@dataclass
class Checkpoint:
    """The contents of a checkpoint file (see the module docstring for each field)."""

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    normalization: Normalizer
    nn_forcings: list[str]
    nn_attributes: list[str]
    phy_forcings: list[str]
    phy_attributes: list[str]
    outputs: list[str] = field(default_factory=list)
    derivations: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] | None = None
    optimizer_state: dict[str, Any] | None = None
    package_version: str = __version__
    format_version: int = FORMAT_VERSION
    path: Path | None = None

    @classmethod
    def from_model(
        cls,
        model: DeltaModel,
        normalization: Normalizer,
        *,
        nn_forcings: list[str] | None = None,
        nn_attributes: list[str] | None = None,
        derivations: dict[str, dict[str, Any]] | None = None,
        training: dict[str, Any] | None = None,
        optimizer_state: dict[str, Any] | None = None,
    ) -> Checkpoint:
        """Snapshot `model`; NN input names default to `model.cfg.inputs.forcings/attributes`."""
        cfg = model.cfg
        ckpt = cls(
            config=cfg,
            state_dict={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
            normalization=normalization,
            nn_forcings=list(cfg.inputs.forcings if nn_forcings is None else nn_forcings),
            nn_attributes=list(cfg.inputs.attributes if nn_attributes is None else nn_attributes),
            phy_forcings=list(model.phy.forcing_names),
            phy_attributes=list(model.phy.attribute_names),
            outputs=list(model.output_names),
            derivations=dict(derivations or {}),
            training=training,
            optimizer_state=optimizer_state,
        )
        for names, n, what in ((ckpt.nn_forcings, model.n_nn_forcings, "nn_forcings"),
                               (ckpt.nn_attributes, model.n_nn_attributes, "nn_attributes")):
            if len(names) != n:
                raise CheckpointError(f"cannot save: {what} has {len(names)} names {names}, the model {n}")
        missing = [v for v in ckpt.nn_forcings + ckpt.nn_attributes if v not in normalization.stats]
        if missing:
            raise CheckpointError(f"cannot save: no normalization statistics for NN input(s) {missing}")
        return ckpt

    def to_payload(self) -> dict[str, Any]:
        """The plain dict written to disk (tensors and plain data only)."""
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "package_version": self.package_version,
            "config": to_dict(self.config),
            "normalization": self.normalization.to_dict(),
            "variables": {k: list(getattr(self, k)) for k in _VARIABLE_KEYS},
            "derivations": self.derivations,
            "training": self.training,
            "state_dict": dict(self.state_dict),
            "optimizer": self.optimizer_state,
        }
        payload["sha256"] = _digest(payload)
        return payload

    def save(self, path: str | Path) -> Path:
        """Write atomically to `path` (parent directories are created), in the current format; weights or
        optimizer state holding NaN or inf are refused (CheckpointError naming the tensors)."""
        path = Path(path)
        bad = _non_finite(self.state_dict) + _non_finite(self.optimizer_state, "optimizer")
        if bad:
            raise CheckpointError(f"cannot save {path}: {_describe(bad)}")
        payload = self.to_payload()
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            torch.save(payload, fh)
        self.path = path
        return path

    def build_model(self, device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> DeltaModel:
        """Rebuild the DeltaModel (strict weight load), in eval mode, on `device` (dtype: config's)."""
        where = self.path or "checkpoint"
        try:
            model = DeltaModel.from_config(self.config, len(self.nn_forcings), len(self.nn_attributes))
        except DmgBmiError as exc:
            raise CheckpointError(f"{where}: cannot build the model from its config: {exc}") from exc
        _check_weights(model.state_dict(), self.state_dict, where)
        model.load_state_dict(self.state_dict, strict=True)
        if dtype is not None:
            model.to(dtype)
        return model.to(device).eval()


def save_checkpoint(path: str | Path, model: DeltaModel, normalization: Normalizer, **contents: Any) -> Path:
    """Write `model` and everything needed to run it to one file at `path`, atomically; `contents`: the
    keywords of `Checkpoint.from_model` (NN input names, derivations, training metadata, optimizer state)."""
    return Checkpoint.from_model(model, normalization, **contents).save(path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint file; any problem raises CheckpointError saying which."""
    path = Path(path)
    payload = _read(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a dmg_bmi checkpoint (a valid torch file without the "
                              f"{FORMAT!r} format tag)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{path}: incompatible checkpoint format version {version!r} (written by dmg_bmi "
            f"{payload.get('package_version')!r}); dmg_bmi {__version__} reads versions 1..{FORMAT_VERSION}"
        )
    required = ("package_version", "config", "normalization", "variables", "derivations", "state_dict",
                "sha256")
    missing = [k for k in required if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: corrupt checkpoint: missing entries {missing}")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: corrupt checkpoint: state_dict is not a mapping of tensors")
    if payload["sha256"] != _digest(payload):
        raise CheckpointError(f"{path}: corrupt checkpoint: contents do not match their sha256 digest")
    optimizer = payload.get("optimizer") if version >= 2 else None  # format 1 did not digest it
    bad = _non_finite(state) + _non_finite(optimizer, "optimizer")
    if bad:
        raise CheckpointError(f"{path}: {_describe(bad)}")
    try:
        config = from_dict(ModelConfig, payload["config"], prefix="config")
        normalization = Normalizer.from_dict(payload["normalization"])
    except DmgBmiError as exc:
        raise CheckpointError(f"{path}: invalid checkpoint metadata: {exc}") from exc
    variables = payload["variables"]
    for key in _VARIABLE_KEYS:
        names = variables.get(key) if isinstance(variables, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CheckpointError(f"{path}: invalid checkpoint metadata: variables.{key} must list names")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise CheckpointError(f"{path}: invalid checkpoint metadata: variables.{key} names {twice} twice")
    for key in ("nn_forcings", "nn_attributes"):  # the network's inputs: each is normalized by its statistics
        unknown = [n for n in variables[key] if n not in normalization.stats]
        if unknown:
            raise CheckpointError(f"{path}: invalid checkpoint metadata: variables.{key} lists {unknown}, "
                                  f"without normalization statistics (those cover {normalization.names})")
    return Checkpoint(
        config=config,
        state_dict=payload["state_dict"],
        normalization=normalization,
        **{k: variables[k] for k in _VARIABLE_KEYS},
        derivations=payload["derivations"],
        training=payload.get("training"),
        optimizer_state=optimizer,
        package_version=payload["package_version"],
        format_version=version,
        path=path,
    )


def require_config_inputs(ckpt: Checkpoint) -> None:
    """The network inputs the checkpoint lists (`variables.nn_forcings`, `nn_attributes`: the width it was
    built with) must be its config's `inputs.forcings` / `inputs.attributes` (what simulate and evaluate
    feed it); else CheckpointError naming the file and both lists."""
    for key, given in (("forcings", ckpt.nn_forcings), ("attributes", ckpt.nn_attributes)):
        configured = list(getattr(ckpt.config.inputs, key))
        if list(given) != configured:
            raise CheckpointError(f"{ckpt.path}: invalid checkpoint metadata: variables.nn_{key} "
                                  f"{list(given)} differ from config.inputs.{key} {configured}")


def require_file(path: Path) -> None:
    """Refuse a checkpoint path that is a folder (naming a checkpoint file in it) or does not exist."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder: give a checkpoint file (.pt), e.g. {path / 'best.pt'} "
                              "of a run folder")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")


def _read(path: Path) -> Any:
    """torch.load(weights_only=True) with the failure classified: missing, unreadable, truncated, corrupt,
    foreign. Every error of the zip reader or torch.load (whatever its type) is a CheckpointError naming
    `path`."""
    require_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {exc.strerror or exc}") from None
    except Exception as exc:  # is_zipfile raises BadZipFile on some damaged end records
        raise CheckpointError(f"{path}: corrupt checkpoint: the zip archive's end record is damaged "
                              f"({type(exc).__name__}: {exc})") from None
    if len(head) < 4 and _ZIP_MAGIC.startswith(head):
        raise CheckpointError(f"{path}: truncated checkpoint ({len(head)} bytes)")
    if head != _ZIP_MAGIC:
        raise CheckpointError(f"{path}: corrupt checkpoint: not a torch zip archive (magic bytes {head!r})")
    if not is_zip:
        raise CheckpointError(f"{path}: truncated checkpoint: the zip archive's end record is missing "
                              f"({path.stat().st_size} bytes; was the write interrupted?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise CheckpointError(f"{path}: not a dmg_bmi checkpoint: it holds Python objects other than "
                                  f"tensors and plain data, which are never unpickled") from exc
        raise CheckpointError(f"{path}: corrupt checkpoint: {exc}") from exc
    except Exception as exc:  # torch/zip reader errors come in many types
        raise CheckpointError(f"{path}: corrupt checkpoint: {type(exc).__name__}: {exc}") from exc


def _digest(payload: dict[str, Any]) -> str:
    """sha256 over every entry but `sha256` itself: metadata, tensors (name, dtype, shape, bytes), optimizer.

    Format 1 digested the metadata and the state_dict only."""
    h = hashlib.sha256()
    if payload.get("format_version") == 1:
        _feed(h, {k: payload.get(k) for k in _V1_DIGESTED})
        _feed(h, payload.get("state_dict"))
    else:
        _feed(h, {k: v for k, v in payload.items() if k != "sha256"})
    return h.hexdigest()


def _non_finite(obj: Any, name: str = "") -> list[str]:
    """Dotted names of the floating-point tensors in `obj` (nested dicts/lists) holding NaN or inf."""
    if isinstance(obj, torch.Tensor):
        bad = (obj.is_floating_point() or obj.is_complex()) and not bool(torch.isfinite(obj).all())
        return [name] if bad else []
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return []
    return [n for key, value in items for n in _non_finite(value, f"{name}.{key}" if name else str(key))]


def _describe(bad: list[str]) -> str:
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (f"non-finite values (NaN or inf) in tensor(s) {bad[:5]}{more}; a model with them computes NaN "
            "(retrain, or lower train.lr if training diverged)")


def _feed(h: Any, obj: Any) -> None:
    """Hash plain data and tensors canonically (dict keys in sorted string order; lists == tuples)."""
    if isinstance(obj, torch.Tensor):
        h.update(f"T{obj.dtype}{tuple(obj.shape)}".encode())
        h.update(obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key, value in sorted(obj.items(), key=lambda kv: repr(kv[0])):
            h.update(repr(key).encode())
            _feed(h, value)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for value in obj:
            _feed(h, value)
    else:
        h.update(f"S{obj!r};".encode())


def _check_weights(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], where: Any) -> None:
    for key, ref in expected.items():
        if key not in got:
            raise CheckpointError(f"{where}: weights do not match the config: missing key {key!r}")
        if tuple(got[key].shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{where}: weights do not match the config: key {key!r} has shape {tuple(got[key].shape)}, "
                f"the config's model needs {tuple(ref.shape)}"
            )
    extra = sorted(set(got) - set(expected))
    if extra:
        raise CheckpointError(f"{where}: weights do not match the config: unexpected key {extra[0]!r}")


