"""Training run configuration: data, model, optimisation and run-directory settings.

A run config is one YAML file with four sections (`data`, `model`, `train`, `run`); every key is checked at
load time by `dmg_bmi.core.config.from_dict`, and errors name the key at fault (e.g. `train.loss`).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from dmg_bmi.core.config import ModelConfig, apply_overrides, from_dict, load_yaml, physics_options, to_dict
from dmg_bmi.core.schema import Bool, Float, Int, Str, key, section
from dmg_bmi.core.train.board import check_available
from dmg_bmi.core.train.rundir import VERSION_KEY
from dmg_bmi.core.train.selection import SELECT_ON
from dmg_bmi.errors import ConfigError

LOSSES = ("nse_batch", "rmse_comb", "kge")
OPTIMIZERS = ("adam", "adadelta")
SCHEDULES = ("none", "step", "exponential", "cosine")
MAX_BATCH_SIZE = 100_000  # basins (fields) per minibatch: more than any dataset holds
# Memory of one training window, forward and backward, per basin-day in float32 (measured on CPU, HBV 1.1p
# with three dynamic parameters: about 72 B per LSTM hidden unit plus 150 B per physics component; float64
# about twice): `window_bytes`. Beyond MAX_WINDOW_BYTES no single accelerator (an H200 has 141 GB) nor
# common host holds it; the δHBV reference (batch 100, warmup + rho 730 days, hidden 256, nmul 16) needs
# about 1.5 GB.
BYTES_PER_HIDDEN, BYTES_PER_NMUL = 72, 150
MAX_WINDOW_BYTES = 2**40  # 1 TiB


def parse_date(value: Any, key: str) -> dt.date:
    """A calendar date from YAML (a date object or an ISO `YYYY-MM-DD` string)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not a date (expected YYYY-MM-DD)") from None


@section
@dataclasses.dataclass
class Period:
    """An inclusive date range `[start, end]` (YYYY-MM-DD)."""

    start: Annotated[Any, key("first day (included)", shown="date YYYY-MM-DD")]
    end: Annotated[Any, key("last day (included)", shown="date YYYY-MM-DD")]

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        self.start = parse_date(self.start, f"{p}start")
        self.end = parse_date(self.end, f"{p}end")
        if self.end < self.start:
            raise ConfigError(f"{prefix or 'period'}: end {self.end} is before start {self.start}")

    @property
    def days(self) -> int:
        """Number of days in the period (both ends included)."""
        return (self.end - self.start).days + 1


@section
@dataclasses.dataclass
class DataConfig:
    """Where the data is and which part of it is used.

    path: the dataset file or folder, or a non-empty list of them of one `kind`, merged by basin id
    (`data_paths`; `dmg_bmi.data.merge` for the rules); a list's relative entries follow `load_experiment`'s
    path rule one by one.
    kind: `netcdf` (our dataset format, see README), `camels` (a CAMELS-US directory tree) or `crop` (a crop
    dataset for δWOFOST, trained by `dmg_bmi.domains.crop.train`; its options go in `crop`, no periods
    needed); it must be one the domain of `model.phy.name` reads (`Domain.data_kinds`).
    source: CAMELS forcing folder (`nldas`, `daymet`, `maurer`); only for kind `camels`.
    basins: basin ids to use, or a path to a text file with one id per line; empty = every basin.
    target: the observed variable the loss compares with (e.g. `streamflow`, mm/d).
    train, test: the training and test periods. The test period is never used for any choice.
    valid: a validation period (temporal validation), disjoint from `test`; `best.pt` and early stopping
    are chosen on it (`train.select_on`, `train.patience`).
    valid_basins: validation basins (ids or a list file, like `basins`): left out of training and scored
    over `valid` (or `train` when `valid` is not set) for model selection (spatial validation).
    """

    path: Annotated[Any, key("the dataset: a NetCDF file or CAMELS-US folder, or a list of them (one kind), "
                             "merged by basin id (required)", shown="path or list of paths")]
    kind: Annotated[Literal["netcdf", "camels", "crop"], key(
        "the dataset format: netcdf (dmg_bmi's), camels (a CAMELS-US folder), crop (a crop dataset); one "
        "the physics' domain reads")] = "netcdf"
    source: Annotated[Str, key("CAMELS forcing folder (nldas, daymet, maurer); kind camels only")] = "nldas"
    basins: Annotated[Any, key("basin ids to use, or a text file with one id per line; empty: every "
                               "basin", shown="list of ids, or a file path")] = \
        dataclasses.field(default_factory=list)
    target: Annotated[Str, key("the observed variable the loss compares with (e.g. streamflow, mm/d)")] = \
        "streamflow"
    train: Annotated[Period | None, key("the training period")] = None
    test: Annotated[Period | None, key("the test period, never used for any choice")] = None
    valid: Annotated[Period | None, key("a validation period outside `test`: best.pt and early stopping are "
                                        "chosen on it")] = None
    valid_basins: Annotated[Any, key("validation basins (ids or a list file, like `basins`), left out of "
                                     "training and scored for model selection",
                                     shown="list of ids, or a file path")] = \
        dataclasses.field(default_factory=list)
    crop: Annotated[dict[Str, Any], key("options of a crop dataset (kind crop): `dmg-bmi config explain "
                                        "data.crop`")] = dataclasses.field(default_factory=dict)

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        self.path = check_data_path(self.path, f"{p}path")
        self.basins = _basin_list(self.basins, f"{p}basins")
        self.valid_basins = _basin_list(self.valid_basins, f"{p}valid_basins")
        if self.valid is not None and self.test is not None and _overlap(self.valid, self.test):
            raise ConfigError(f"{p}valid: {self.valid.start}..{self.valid.end} overlaps {p}test "
                              f"{self.test.start}..{self.test.end}; the test period is never used for "
                              "choices (best.pt, early stopping): take a validation period outside it")
        both = set(self.basins) & set(self.valid_basins)
        if both:
            raise ConfigError(f"{p}valid_basins: {sorted(both)} are also in {p}basins; validation basins are "
                              "left out of training: list each basin in one of the two")

    @property
    def validating(self) -> bool:
        """Whether a validation period or validation basins are set (model selection on them)."""
        return self.valid is not None or bool(self.valid_basins)


def _basin_list(value: Any, key: str) -> list[str]:
    """Basin ids from a list, or from a text file (one id per line); ConfigError naming `key` otherwise."""
    if isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"{key}: basin list file not found: {path}")
        return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if isinstance(value, list):
        return [str(b) for b in value]
    raise ConfigError(f"{key}: expected a list of ids or a file path, got {value!r}")


def _overlap(a: Period, b: Period) -> bool:
    return a.start <= b.end and b.start <= a.end


def check_data_path(value: Any, key: str) -> str | list[str]:
    """`data.path` as given: a string, or a non-empty list of non-empty strings naming different paths
    (compared resolved); otherwise ConfigError naming `key` (or `key[i]`) and the value."""
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"{key}: empty; give the dataset (a NetCDF file or CAMELS-US folder)")
        return value
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a path or a list of paths, got {value!r}"
                          + (f" (quote it: '{value}')" if isinstance(value, (int, float)) else ""))
    if not value:
        raise ConfigError(f"{key}: an empty list names no data; give a path or a list of paths")
    seen: dict[Path, int] = {}
    for i, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            raise ConfigError(f"{key}[{i}]: expected a path (a non-empty string), got {entry!r}")
        same = Path(entry).expanduser().resolve()
        if same in seen:
            raise ConfigError(f"{key}[{i}]: {entry!r} is the same path as {key}[{seen[same]}] "
                              f"({value[seen[same]]!r}); name each dataset once")
        seen[same] = i
    return list(value)


def data_paths(data: DataConfig) -> list[str]:
    """The paths of `data.path`: its one path, or its list."""
    return [data.path] if isinstance(data.path, str) else list(data.path)


@section
@dataclasses.dataclass
class ScheduleConfig:
    """Learning-rate schedule, stepped once per epoch.

    step: lr *= gamma every `step_size` epochs; exponential: lr *= gamma each epoch;
    cosine: cosine annealing to `min_lr` over all epochs.
    """

    name: Annotated[Literal[SCHEDULES], key("the schedule: none, step, exponential or cosine")] = "none"
    step_size: Annotated[Int, key("epochs between steps (step)", ge=1)] = 10
    gamma: Annotated[Float, key("factor applied to the LR at each step (step, exponential)", gt=0)] = 0.5
    min_lr: Annotated[Float, key("the LR at the last epoch (cosine)", ge=0)] = 0.0


@section
@dataclasses.dataclass
class TrainConfig:
    """Optimisation settings. `rho` is the length (days) of the loss window after the warm-up."""

    loss: Annotated[Literal[LOSSES], key("the loss: nse_batch (NSE normalised per basin), rmse_comb (RMSE of "
                                         "flow and of its square root), kge")] = "nse_batch"
    optimizer: Annotated[Literal[OPTIMIZERS], key("the optimiser")] = "adam"
    lr: Annotated[Float, key("learning rate", gt=0)] = 1e-3
    lr_schedule: Annotated[ScheduleConfig, key("learning-rate schedule, stepped once per epoch")] = \
        dataclasses.field(default_factory=ScheduleConfig)
    grad_clip: Annotated[Annotated[Float, Field(gt=0)] | None, key(
        "largest gradient norm (clipped above it); null: no clipping")] = 1.0
    epochs: Annotated[Int, key("training epochs", ge=1)] = 50
    batch_size: Annotated[Int, key("basins (fields) per minibatch", ge=1, le=MAX_BATCH_SIZE)] = 100
    rho: Annotated[Int, key("length of the loss window after the warm-up", units="d", ge=1)] = 365
    iterations_per_epoch: Annotated[Annotated[Int, Field(ge=1)] | None, key(
        "minibatches per epoch; null: one pass over the basins")] = None
    max_bad_batches: Annotated[Int, key("non-finite minibatches in a row that stop the run", ge=1)] = 20
    rmse_comb_alpha: Annotated[Float, key("weight of the square-root term of rmse_comb", ge=0.0,
                                          le=1.0)] = 0.25
    output: Annotated[Str, key("the physics output the loss compares with data.target")] = "streamflow"
    validate_every: Annotated[Int, key("epochs between validation rounds (with data.valid or "
                                       "data.valid_basins; the last epoch is always validated)", ge=1)] = 1
    select_on: Annotated[Literal[SELECT_ON], key("validation score that picks best.pt: median nse or kge "
                                                 "over the validation basins, or loss")] = "nse"
    patience: Annotated[Int, key("validation rounds without a better score before the run stops (0: never "
                                 "early)", ge=0)] = 0


@section
@dataclasses.dataclass
class RunConfig:
    """Where and how the run executes.

    run_dir: parent folder; each run gets `<run_dir>/<name>_<YYYYmmdd_HHMMSS>/` (or `exact_dir` if set).
    device: `cpu`, `cuda`, `cuda:N` or `auto` (cuda when available).
    save_every: write `model_epochNNN.pt` every N epochs (0 = only best/last).
    threads: torch intra-op threads while training (default 1; 0 = torch's own setting, all cores). A day of
    physics is many small operations: split across threads, each waits for its slowest thread, and on a
    shared machine that collapses (a loaded 2-core box: 190-290 s per epoch on 2 threads, 25-70 s on 1).
    tensorboard: also log losses, validation scores and the LR to `<run>/tensorboard/` (`core.train.board`;
    needs the `tensorboard` extra).
    """

    name: Annotated[Str, key("the run's name, the first part of its folder's name")] = "run"
    run_dir: Annotated[Str, key("parent folder of the run folders")] = "runs"
    exact_dir: Annotated[Str | None, key("the run folder itself, instead of <run_dir>/<name>_<time>")] = None
    seed: Annotated[Int, key("random seed (weights, minibatches)", ge=0)] = 0
    device: Annotated[Str, key("cpu, cuda, cuda:N or auto (cuda when available)")] = "auto"
    save_every: Annotated[Int, key("write model_epochNNN.pt every N epochs (0: only best.pt and last.pt)",
                                   ge=0)] = 5
    eval_batch_size: Annotated[Int, key("basins per batch when evaluating and simulating", ge=1,
                                        le=MAX_BATCH_SIZE)] = 64
    progress: Annotated[Bool, key("show progress bars")] = True
    threads: Annotated[Int, key("torch threads while training (0: torch's own setting, all cores); more is "
                                "slower on a loaded machine", ge=0)] = 1
    tensorboard: Annotated[Bool, key("also log losses, scores and the LR to <run>/tensorboard/ (needs the "
                                     "tensorboard extra)")] = False

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        if self.tensorboard:
            check_available(f"{p}tensorboard")
        if not re.fullmatch(r"cpu|auto|cuda(:[0-9]+)?", self.device):
            raise ConfigError(f"{p}device: {self.device!r} is not one of cpu, cuda, cuda:N, auto")


@section
@dataclasses.dataclass
class ExperimentConfig:
    """A whole training run."""

    data: Annotated[DataConfig, key("where the data is and which part of it is used")]
    model: Annotated[ModelConfig, key("the delta model: physics, network, inputs")] = \
        dataclasses.field(default_factory=ModelConfig)
    train: Annotated[TrainConfig, key("optimisation settings")] = \
        dataclasses.field(default_factory=TrainConfig)
    run: Annotated[RunConfig, key("where and how the run executes")] = \
        dataclasses.field(default_factory=RunConfig)

    def validate(self, prefix: str = "") -> None:
        """The domain of `model.phy.name` checks its `data` sections (`Domain.data_sections`) and what it
        trains (`Domain.check_experiment`; ConfigError naming the key), after `data.kind` is checked against
        it (`domain_of_experiment`)."""
        from dmg_bmi.core.registry import available
        from dmg_bmi.domains import domain_of_experiment

        if self.model.phy.name not in available("physics"):
            return  # no domain to ask: `model.phy.name` names the problem (PhyConfig.validate)
        domain = domain_of_experiment(self)
        for name, section_cls in domain.data_sections().items():
            from_dict(section_cls, getattr(self.data, name), prefix=f"data.{name}")
        domain.check_experiment(self)


def check_window_experiment(cfg: ExperimentConfig) -> None:
    """What the core's windowed trainer needs (`Domain.check_experiment`'s default): a training period, a
    window within memory limits, a `model.correction` the physics allows and a `train.output` the model
    gives (ConfigError naming the key)."""
    if cfg.data.train is None:
        raise ConfigError("missing required key 'data.train' (the training period)")
    if cfg.train.patience and not cfg.data.validating:
        raise ConfigError(f"train.patience: {cfg.train.patience} stops on a validation score, and there is "
                          "none: set data.valid (a period) and/or data.valid_basins, or train.patience: 0")
    need = window_bytes(cfg)
    if need > MAX_WINDOW_BYTES:
        t, m = cfg.train, cfg.model
        raise ConfigError(
            f"train.batch_size {t.batch_size} x (model.phy.warmup {m.phy.warmup} + train.rho {t.rho}) "
            f"days with model.nn.hidden_size {m.nn.hidden_size}, model.phy.nmul {m.phy.nmul} and "
            f"{m.dtype} needs about {need / 2**30:.3g} GiB per training window, over the "
            f"{MAX_WINDOW_BYTES / 2**30:.0f} GiB limit (more than one accelerator or common host holds): "
            "lower them")
    from dmg_bmi.core.correction import check_correction
    from dmg_bmi.core.delta import model_output_names
    from dmg_bmi.core.registry import get_physics

    phy = get_physics(cfg.model.phy.name)(cfg.model.phy)
    if cfg.model.process is not None:
        from dmg_bmi.core.delta import check_no_process

        check_no_process(cfg.model, phy)
    correction = cfg.model.correction
    if correction is not None:
        check_correction(correction, phy, cfg.model.phy.name)
        if cfg.train.output != correction.output:
            raise ConfigError(f"train.output: {cfg.train.output!r} is not the corrected output "
                              f"model.correction.output {correction.output!r}: the loss would never reach "
                              "the correction network, which would stay untrained; train against the "
                              "corrected output, or drop model.correction")
    outputs = model_output_names(phy, cfg.model)
    if cfg.train.output not in outputs:
        raise ConfigError(f"train.output: {cfg.train.output!r} is not an output of the physics "
                          f"{cfg.model.phy.name!r}; valid: {', '.join(outputs)}")


def window_bytes(cfg: ExperimentConfig) -> float:
    """Estimated memory (bytes) of one training window's forward and backward pass: batch_size x
    (warmup + rho) basin-days x (BYTES_PER_HIDDEN x hidden_size + BYTES_PER_NMUL x nmul), twice in float64."""
    t, m = cfg.train, cfg.model
    per_day = BYTES_PER_HIDDEN * m.nn.hidden_size + BYTES_PER_NMUL * m.phy.nmul
    return float(t.batch_size) * (m.phy.warmup + t.rho) * per_day * (2 if m.dtype == "float64" else 1)


# Config keys that hold a file or folder (`data.basins`, `data.valid_basins` only when a string: a list
# file), and those that may hold a list of them (each string entry follows the same rule).
PATH_KEYS = ("data.path", "data.basins", "data.valid_basins", "run.run_dir", "run.exact_dir")
PATH_LIST_KEYS = ("data.path",)


def load_experiment(path: str | Path | None = None, overrides: list[str] | None = None,
                    data: dict | None = None, base: str | Path | None = None) -> ExperimentConfig:
    """Read a run config from YAML (or a mapping), apply `key.sub=value` overrides, and validate it
    (`resolve_experiment`, then `from_dict`). Errors: ConfigError (from `load_yaml`, `apply_overrides`,
    `from_dict`) naming the key or the file's position."""
    return from_dict(ExperimentConfig, resolve_experiment(path, overrides, data, base))


def resolve_experiment(path: str | Path | None = None, overrides: list[str] | None = None,
                       data: dict | None = None, base: str | Path | None = None) -> dict:
    """The raw run config mapping of the YAML file `path` (or of the mapping `data`) with `key.sub=value`
    overrides applied, not yet validated (a run folder's `config.yaml` is one: its version stamp is dropped).

    Relative paths (`PATH_KEYS`; `~` is expanded) follow one rule, and are made absolute so that the run's
    saved config works from any folder: a path written in the YAML file `path` is relative to that file's
    folder (in the mapping `data`, to `base`, else to the working directory); a path given in `overrides`
    (`--set` on the command line) is relative to the working directory.
    """
    raw = copy.deepcopy(data) if data is not None else load_yaml(path)
    if isinstance(raw, dict):
        raw.pop(VERSION_KEY, None)  # a run folder's config.yaml runs again as a config
    folder = Path(path).parent if path is not None and data is None else base
    if folder is not None:
        _absolute_paths(raw, Path(folder).expanduser())
    given = _path_values(raw)
    apply_overrides(raw, list(overrides or []))
    _absolute_paths(raw, Path.cwd(), changed_from=given)
    return raw


def _path_values(raw: Any) -> dict[str, Any]:
    """{key: value} of each `PATH_KEYS` entry present in the raw config mapping `raw`."""
    out = {}
    for dotted in PATH_KEYS:
        head, name = dotted.split(".")
        node = raw.get(head) if isinstance(raw, dict) else None
        if isinstance(node, dict) and name in node:
            out[dotted] = node[name]
    return out


def _absolute_paths(raw: Any, folder: Path, changed_from: dict[str, Any] | None = None) -> None:
    """Make each relative path of `PATH_KEYS` in `raw` (and each entry of a `PATH_LIST_KEYS` list) absolute
    against `folder`, in place; with `changed_from`, only those whose value differs from it (the ones an
    override set: a list set by an override is relative to `folder` as a whole). Values that are not
    non-empty strings are left for `from_dict` to check."""
    def absolute(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            return value
        return str((folder / Path(value).expanduser()).resolve())

    for dotted, value in _path_values(raw).items():
        if changed_from is not None and changed_from.get(dotted) == value:
            continue
        head, name = dotted.split(".")
        if isinstance(value, list) and dotted in PATH_LIST_KEYS:
            raw[head][name] = [absolute(v) for v in value]
        else:
            raw[head][name] = absolute(value)


# Keys a resumed run cannot change: the network and physics, and the optimizer and schedule restored from the
# checkpoint (a new learning rate would not be applied, yet the checkpoint would record it).
RESUME_FIXED = ("model", "train.optimizer", "train.lr", "train.lr_schedule")


def resume_differences(cfg: ExperimentConfig, checkpoint_experiment: dict) -> list[str]:
    """`key: checkpoint value -> config value` for each `RESUME_FIXED` dotted where `cfg` differs from the
    experiment stored in the checkpoint a run resumes from (its `training.experiment`)."""
    now, then = _in_effect(experiment_to_dict(cfg)), _in_effect(checkpoint_experiment)
    differences = []
    for dotted in RESUME_FIXED:
        a, b = then, now
        for part in dotted.split("."):
            a, b = (a or {}).get(part), (b or {}).get(part)
        differences += _differences(a, b, dotted)
    return differences


def _in_effect(experiment: dict) -> dict:
    """`experiment` with `model.phy.options` completed by the physics' defaults (an option left out and the
    same option given at its default are the same run); unchanged where they cannot be read."""
    phy = (experiment.get("model") or {}).get("phy") or {}
    section = physics_options(phy.get("name", "")) if isinstance(phy.get("name"), str) else None
    if section is None or not isinstance(phy.get("options", {}), dict):
        return experiment
    try:
        options = to_dict(from_dict(section, phy.get("options") or {}, prefix="model.phy.options"))
    except ConfigError:
        return experiment
    return {**experiment, "model": {**experiment["model"], "phy": {**phy, "options": options}}}


def check_resume(cfg: ExperimentConfig, state, where: str) -> None:
    """Refuse (ConfigError naming `where`, e.g. the checkpoint, and each key) to resume `state` (a
    `dmg_bmi.core.train.checkpoints.TrainingState`) under `cfg` when they differ in what a resumed run keeps
    (`resume_differences`: network, physics, optimizer); called before any weight is loaded, where a changed
    network would only give a size mismatch."""
    differences = resume_differences(cfg, (state.checkpoint.training or {}).get("experiment") or {})
    if differences:
        raise ConfigError(
            f"{where}: the config differs from the checkpoint's in {'; '.join(differences)} (checkpoint "
            "-> now). A resumed run keeps its network, physics and optimizer: undo these changes, or start a "
            "new run instead of resuming"
        )


def _differences(then: Any, now: Any, key: str) -> list[str]:
    if isinstance(then, dict) and isinstance(now, dict):
        return [d for k in sorted(set(then) | set(now), key=str)
                for d in _differences(then.get(k), now.get(k), f"{key}.{k}")]
    return [] if then == now else [f"{key}: {then!r} -> {now!r}"]


def experiment_to_dict(cfg: ExperimentConfig) -> dict:
    """Plain YAML-friendly dict (dates as ISO strings) that `load_experiment(data=...)` reads back."""
    out = to_dict(cfg)
    for name in ("train", "test", "valid"):
        period = out["data"].get(name)
        if period:
            out["data"][name] = {k: str(v) for k, v in period.items()}
    return out
