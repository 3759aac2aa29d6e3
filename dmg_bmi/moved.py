"""Import paths of the 0.1 layout, before the core/domains split (issue 11), kept working for scripts written
against it (users' scripts, the fault cases in ``../shared/cases``).

`MOVED` maps each old dotted module path to the module(s) that now hold its names. Importing an old path gives
a light proxy module (a `DeprecationWarning` names the new path): attribute lookups forward to the new
module(s) in order, and an old package's submodules resolve through `MOVED` too. The proxy never loads a
file a second time, so registries (physics, networks, domains) see each class once. New code imports the new
paths; `tests/test_public_surface.py` checks that every old path still resolves.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED: dict[str, tuple[str, ...]] = {
    "dmg_bmi.checkpoint": ("dmg_bmi.core.checkpoint",),
    "dmg_bmi.config": ("dmg_bmi.core.config",),
    "dmg_bmi.normalization": ("dmg_bmi.core.normalization",),
    "dmg_bmi.models": (),
    "dmg_bmi.models.delta": ("dmg_bmi.core.delta",),
    "dmg_bmi.models.nn": ("dmg_bmi.core.nn",),
    "dmg_bmi.models.registry": ("dmg_bmi.core.registry",),
    "dmg_bmi.models.crop_checkpoint": ("dmg_bmi.domains.crop.checkpoint",),
    "dmg_bmi.models.crop_delta": ("dmg_bmi.domains.crop.delta",),
    "dmg_bmi.models.phy": (),
    "dmg_bmi.models.phy.base": ("dmg_bmi.core.physics",),
    "dmg_bmi.models.phy.ops": ("dmg_bmi.core.ops",),
    "dmg_bmi.models.phy.hbv": ("dmg_bmi.domains.hydrology.hbv",),
    "dmg_bmi.models.phy.hbv_core": ("dmg_bmi.domains.hydrology.hbv_core",),
    "dmg_bmi.models.phy.hbv_fused": ("dmg_bmi.domains.hydrology.hbv_fused",),
    "dmg_bmi.models.phy.routing": ("dmg_bmi.domains.hydrology.routing",),
    "dmg_bmi.models.phy.wofost72": ("dmg_bmi.domains.crop.wofost72", "dmg_bmi.domains.crop.wofost72.physics"),
    **{f"dmg_bmi.models.phy.wofost72.{m}": (f"dmg_bmi.domains.crop.wofost72.{m}",) for m in (
        "afgen", "assimilation", "astro", "calendar", "evapotranspiration", "leaves", "model", "organs",
        "params", "partitioning", "phenology", "physics", "respiration", "waterbalance")},
    "dmg_bmi.train.checkpoints": ("dmg_bmi.core.train.checkpoints", "dmg_bmi.train.config"),
    "dmg_bmi.train.distributed": ("dmg_bmi.core.train.distributed",),
    "dmg_bmi.train.inputs": ("dmg_bmi.core.train.inputs",),
    "dmg_bmi.train.losses": ("dmg_bmi.core.train.losses",),
    "dmg_bmi.train.metrics": ("dmg_bmi.core.train.metrics",),
    "dmg_bmi.train.rundir": ("dmg_bmi.core.train.rundir",),
    "dmg_bmi.train.sampler": ("dmg_bmi.core.train.sampler",),
    "dmg_bmi.train.trainer": ("dmg_bmi.core.train.trainer", "dmg_bmi.train.run"),
    "dmg_bmi.train.crop": ("dmg_bmi.domains.crop.train",),
    "dmg_bmi.train.crop_eval": ("dmg_bmi.domains.crop.evaluate",),
    "dmg_bmi.train.state_files": ("dmg_bmi.domains.hydrology.state_files",),
    "dmg_bmi.crop": ("dmg_bmi.domains.crop.pcse",),
    "dmg_bmi.crop.batch": ("dmg_bmi.domains.crop.pcse.batch",),
    "dmg_bmi.crop.pcse_yaml": ("dmg_bmi.domains.crop.pcse.pcse_yaml",),
    "dmg_bmi.crop.tables": ("dmg_bmi.domains.crop.pcse.tables",),
    "dmg_bmi.crop_handler": ("dmg_bmi.domains.crop.handler",),
    "dmg_bmi.crop_weather": ("dmg_bmi.domains.crop.weather",),
    "dmg_bmi.data.crop_dataset": ("dmg_bmi.domains.crop.dataset",),
    "dmg_bmi.data.crop_twin": ("dmg_bmi.domains.crop.twin",),
    "dmg_bmi.data.camels": ("dmg_bmi.domains.hydrology.camels",),
    "dmg_bmi.data.twin": ("dmg_bmi.domains.hydrology.twin",),
    "dmg_bmi.ngen.crop_days": ("dmg_bmi.domains.crop.days",),
    "dmg_bmi.ngen.crop_run": ("dmg_bmi.domains.crop.run_folder",),
    "dmg_bmi.ngen.daily_chains": ("dmg_bmi.domains.hydrology.daily_chains",),
    "dmg_bmi.ngen.payload": ("dmg_bmi.core.payload",),
    "dmg_bmi.handler": ("dmg_bmi.core.handler", "dmg_bmi.domains.hydrology.handler"),
    "dmg_bmi.variables": ("dmg_bmi.attributes", "dmg_bmi.core.variables",
                          "dmg_bmi.domains.hydrology.variables", "dmg_bmi.domains.crop.variables"),
}


class _Proxy(types.ModuleType):
    """An old module path: attributes come from the new module(s) that hold them."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"moved to {', '.join(targets) or 'other modules'} (dmg_bmi.moved)")
        self._targets = targets
        self.__path__: list[str] = []  # a package: its submodules resolve through MOVED

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (moved to {', '.join(self._targets)}) has no "
                             f"attribute {attr!r}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves the old paths of `MOVED` to proxies."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        targets = MOVED[spec.name]
        if targets:
            warnings.warn(f"{spec.name} moved to {' / '.join(targets)}; import it from there",
                          DeprecationWarning, stacklevel=2)  # shown at the importing line
        return _Proxy(spec.name, targets)

    def exec_module(self, module) -> None:
        return None


def install() -> None:
    """Put the finder first on `sys.meta_path` (once), so an old path never reaches the file system."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
