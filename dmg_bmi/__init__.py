"""dmg_bmi: differentiable models (NN -> physical parameters -> PyTorch physics) with a NextGen BMI.

Layout: `core/` knows no domain (config, checkpoint, registry, networks, delta model, training loop);
`domains/` holds what differs (`hydrology/`, `crop/`, plugins by entry point); `bmi.py`, `ngen/`, `cli.py`
and `train/` (the CLI verbs) ask a domain for what differs. This file tells the core's registry where the
built-in domains' physics live, and exports the few nouns a user needs (imported on first use, so
`import dmg_bmi` stays light for ngen's embedded Python):

- `DeltaModel`: NN -> bounded physical parameters -> physics step (`dmg_bmi.core.delta`);
- `load_checkpoint` / `Checkpoint`: one self-describing model file (`dmg_bmi.core.checkpoint`);
- `ModelHandler`: a checkpoint (or ensemble) ready to step, numpy or torch (`dmg_bmi.core.handler`; a
  domain's subclass names its outputs: `get_domain(name).load_handler(...)`);
- `DeltaModelBmi`: the CSDMS BMI 2.0 component for NextGen (`dmg_bmi.bmi`);
- `load_experiment` / `train_experiment`: a training config from YAML, and training it through its domain
  (`dmg_bmi.train.config.load_experiment`, `dmg_bmi.train.run.train`; `dmg-bmi train` calls the same);
- `get_domain` / `Domain` / `DeltaModelDomain`: the domains by name, the interface a plugin domain
  implements (`dmg_bmi.domains`), and the core's delta-model path it may build on (`dmg_bmi.domains.delta`);
- `register_physics` / `register_nn`: decorators adding physics and networks by name
  (`dmg_bmi.core.registry`).
"""

__version__ = "0.1.0"

from dmg_bmi.core import registry as _registry  # noqa: E402  (after __version__, which the core reads)

_registry.add_builtin_modules("physics", "dmg_bmi.domains.hydrology.hbv",
                              "dmg_bmi.domains.hydrology.multimodel", "dmg_bmi.domains.crop.wofost72.physics")

from dmg_bmi import moved as _moved  # noqa: E402

_moved.install()  # the 0.1 layout's import paths keep working (dmg_bmi.moved)

_EXPORTS = {  # public name -> (module defining it, its name there)
    "DeltaModel": ("dmg_bmi.core.delta", "DeltaModel"),
    "Checkpoint": ("dmg_bmi.core.checkpoint", "Checkpoint"),
    "load_checkpoint": ("dmg_bmi.core.checkpoint", "load_checkpoint"),
    "ModelHandler": ("dmg_bmi.core.handler", "ModelHandler"),
    "DeltaModelBmi": ("dmg_bmi.bmi", "DeltaModelBmi"),
    "load_experiment": ("dmg_bmi.train.config", "load_experiment"),
    "train_experiment": ("dmg_bmi.train.run", "train"),  # not `train`: that is the subpackage dmg_bmi.train
    "get_domain": ("dmg_bmi.domains", "get_domain"),
    "Domain": ("dmg_bmi.domains", "Domain"),
    "DeltaModelDomain": ("dmg_bmi.domains.delta", "DeltaModelDomain"),
    "register_physics": ("dmg_bmi.core.registry", "register_physics"),
    "register_nn": ("dmg_bmi.core.registry", "register_nn"),
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    """Import a public name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dmg_bmi' has no attribute {name!r}")
    import importlib

    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
