"""Physics models and networks by name, open to plugins through entry points.

Built-in models register themselves with `@register_physics("name")` / `@register_nn("name")`.
Third-party packages add theirs under the entry-point groups `dmg_bmi.physics` and `dmg_bmi.nn`
(each entry point resolves to the class).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from dmg_bmi.errors import ConfigError

C = TypeVar("C")

_REGISTRIES: dict[str, dict[str, type]] = {"physics": {}, "nn": {}}
# Modules whose import registers the built-ins (imported lazily so `import dmg_bmi` stays light). The core
# names only its networks; the package adds its domains' physics modules (`add_builtin_modules`).
_BUILTIN_MODULES: dict[str, tuple[str, ...]] = {"physics": (), "nn": ("dmg_bmi.core.nn",)}
_loaded: set[str] = set()


def _register(kind: str, name: str) -> Callable[[C], C]:
    def deco(cls: C) -> C:
        table = _REGISTRIES[kind]
        if name in table and table[name] is not cls:
            raise ValueError(f"{kind} model {name!r} is already registered by {table[name]!r}")
        table[name] = cls
        return cls

    return deco


def register_physics(name: str) -> Callable[[C], C]:
    """Class decorator: register a physics model under `name`."""
    return _register("physics", name)


def register_nn(name: str) -> Callable[[C], C]:
    """Class decorator: register a parameter-learning network under `name`."""
    return _register("nn", name)


def add_builtin_modules(kind: str, *modules: str) -> None:
    """Modules (dotted names) whose import registers built-in `kind` models, imported at the first lookup."""
    _BUILTIN_MODULES[kind] = (*_BUILTIN_MODULES[kind], *modules)
    _loaded.discard(kind)


def _load(kind: str) -> None:
    if kind in _loaded:
        return
    _loaded.add(kind)
    for module in _BUILTIN_MODULES[kind]:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real import error inside the module
                raise
    for ep in entry_points(group=f"dmg_bmi.{kind}"):
        try:
            cls = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"{kind} plugin {ep.name!r} (entry point {ep.value!r} in group 'dmg_bmi.{kind}') "
                f"failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        _REGISTRIES[kind].setdefault(ep.name, cls)


def available(kind: str) -> list[str]:
    """Registered names for `kind` ('physics' or 'nn')."""
    _load(kind)
    return sorted(_REGISTRIES[kind])


def get(kind: str, name: str) -> type:
    """The class registered as `name`; an unknown name raises ConfigError listing the valid ones."""
    _load(kind)
    try:
        return _REGISTRIES[kind][name]
    except KeyError:
        raise ConfigError(
            f"unknown {kind} model {name!r}; available: {', '.join(available(kind)) or '(none)'}"
        ) from None


def get_physics(name: str) -> type:
    return get("physics", name)


def get_nn(name: str) -> type:
    return get("nn", name)
