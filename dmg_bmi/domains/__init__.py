"""Domains: what differs between hydrology, crops and plugin models, behind one `Domain` interface.

What lives here: `base.py` (the `Domain` interface and the BMI session it opens), `delta.py` (the core's
delta-model path as a `Domain`, and `CORE`), this registry, and one package per built-in domain
(`hydrology/`, `crop/`), each defining its `DOMAIN` instance in its `domain.py`. Plugins add theirs under the
entry-point group ``dmg_bmi.domains`` (the entry point resolves to a `Domain` instance or class).

Callers outside this package ask the registry for the domain of a physics (`domain_or_core`: a physics no
domain claims runs the core's defaults, `dmg_bmi.domains.delta.CORE`), of a training config
(`domain_of_experiment`), of a dataset file (`domain_of_dataset`) or of a twin name (`twins`), then call its
hooks; they never test which it is.

What it may import: the registry imports `base` and the error types only; it loads the domains, plugins and
`delta` by name (`module:attribute`), so a domain may import the shared runtime that asks the registry
(`dmg_bmi.ngen`, `dmg_bmi.data`, `dmg_bmi.train`, ...) without an import cycle. A domain imports the core
(`dmg_bmi.core`, its `handler` included), that runtime and its own modules; domains never import each
other. `dmg_bmi.core` never imports this package; `dmg_bmi.bmi` imports only this registry, never a domain
package, and never tests which domain it holds.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dmg_bmi.domains.base import BmiSession, CheckpointFacts, Domain, TimeAdapter
from dmg_bmi.errors import CheckpointError, ConfigError

__all__ = ["BmiSession", "CheckpointFacts", "Domain", "TimeAdapter", "available", "data_kinds",
           "domain_for_checkpoint", "domain_of_dataset", "domain_of_experiment", "domain_of_physics",
           "domain_or_core", "get_domain", "merged", "refuse_foreign_config_keys", "register", "twins"]

ENTRY_POINT_GROUP = "dmg_bmi.domains"
_BUILTIN = ("dmg_bmi.domains.hydrology.domain:DOMAIN", "dmg_bmi.domains.crop.domain:DOMAIN")
_CORE = "dmg_bmi.domains.delta:CORE"  # the core's delta-model path, for a physics no domain claims
_DOMAINS: dict[str, Domain] = {}
_MERGED: dict[str, Mapping[str, Any]] = {}  # `merged` tables, valid while the registry is unchanged
_loaded = False


def register(domain: Domain) -> Domain:
    """Add `domain` to the registry (its `label` defaults to its name); a name or physics name already taken
    raises ConfigError naming both."""
    if not isinstance(domain, Domain) or not domain.name:
        raise ConfigError(f"domain {domain!r} is not a named dmg_bmi.domains.Domain")
    taken = _DOMAINS.get(domain.name)
    if taken is not None and taken is not domain:
        raise ConfigError(f"domain {domain.name!r} is already registered ({taken!r})")
    for other in _DOMAINS.values():
        shared = sorted(set(other.physics) & set(domain.physics))
        if other is not domain and shared:
            raise ConfigError(f"domain {domain.name!r} claims physics {shared}, already run by domain "
                              f"{other.name!r}")
    twin = next((o for o in _DOMAINS.values() if o is not domain and o.twin == domain.twin), None)
    if domain.twin and twin is not None:
        raise ConfigError(f"domain {domain.name!r} names its twin {domain.twin!r}, already domain "
                          f"{twin.name!r}'s")
    if not domain.label:
        domain.label = domain.name
    _DOMAINS[domain.name] = domain
    _MERGED.clear()
    return domain


def _resolve(value: str, what: str, named: bool = True) -> Domain:
    """The Domain at `value` ("module:attribute"; a Domain class is instantiated), named if `named`."""
    module, _, attr = value.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as exc:
        raise ConfigError(f"{what} ({value!r}) failed to load: {type(exc).__name__}: {exc}") from exc
    domain = obj() if isinstance(obj, type) and issubclass(obj, Domain) else obj
    if not isinstance(domain, Domain) or (named and not domain.name):
        raise ConfigError(f"{what} ({value!r}) gives {domain!r}, not a named dmg_bmi.domains.Domain")
    return domain


@functools.cache
def _core() -> Domain:
    """`dmg_bmi.domains.delta.CORE`, loaded by name (see the module docstring)."""
    return _resolve(_CORE, "the core's delta-model path", named=False)


def _load() -> None:
    """Register the built-in domains, then the entry-point plugins (once per process; after a failure the
    registry is as it was, and the next use tries again)."""
    global _loaded
    if _loaded:
        return
    before = dict(_DOMAINS)
    try:
        for value in _BUILTIN:
            register(_resolve(value, "built-in domain"))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            domain = _resolve(ep.value, f"domain plugin {ep.name!r} (entry point in group "
                                        f"'{ENTRY_POINT_GROUP}')")
            if domain.name != ep.name:
                raise ConfigError(f"domain plugin entry point {ep.name!r} ({ep.value!r}) gives a domain "
                                  f"named {domain.name!r}; name the entry point after its domain")
            register(domain)
    except ConfigError:
        _DOMAINS.clear()
        _MERGED.clear()
        _DOMAINS.update(before)
        raise
    _loaded = True


def available() -> list[str]:
    """Names of the registered domains."""
    _load()
    return sorted(_DOMAINS)


def get_domain(name: str) -> Domain:
    """The domain registered as `name`; an unknown name raises ConfigError listing the known ones."""
    _load()
    try:
        return _DOMAINS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown domain {name!r}; known domains: {', '.join(available())}") from None


def _owners() -> str:
    return "; ".join(f"{d.name} ({', '.join(d.physics) or 'none'})" for d in _DOMAINS.values())


def domain_of_physics(physics: str) -> Domain:
    """The domain that runs physics `physics`; ConfigError naming it and every domain's physics if none."""
    _load()
    for domain in _DOMAINS.values():
        if physics in domain.physics:
            return domain
    raise ConfigError(f"no domain runs physics {physics!r}; domains and their physics: {_owners()}")


def domain_or_core(physics: str) -> Domain:
    """The domain that runs physics `physics`, else `dmg_bmi.domains.delta.CORE` (the core's defaults: a
    physics registered in `dmg_bmi.core.registry` that no domain claims trains, evaluates and simulates as
    a delta model)."""
    _load()
    return next((d for d in _DOMAINS.values() if physics in d.physics), None) or _core()


def domain_of_experiment(cfg) -> Domain:
    """The domain that trains `cfg` (an `ExperimentConfig`): the one of `model.phy.name` (`domain_or_core`);
    ConfigError naming `data.kind` when that domain does not read it."""
    domain = domain_or_core(cfg.model.phy.name)
    if cfg.data.kind not in domain.data_kinds:
        raise ConfigError(f"data.kind: {cfg.data.kind!r} is not a dataset of physics {cfg.model.phy.name!r} "
                          f"({domain.label}); it trains on data.kind {', '.join(domain.data_kinds)}")
    return domain


def domain_of_dataset(tag: str | None) -> Domain:
    """The domain whose dataset files carry format tag `tag` (their `dmg_bmi_format` attribute), else
    `dmg_bmi.domains.delta.CORE` (the core's basin dataset)."""
    _load()
    return next((d for d in _DOMAINS.values() if tag in d.dataset_formats), None) or _core()


def data_kinds() -> tuple[str, ...]:
    """Every `data.kind` a registered domain or the core's delta-model path reads, built-ins first."""
    _load()
    return tuple(dict.fromkeys(k for d in (_core(), *_DOMAINS.values()) for k in d.data_kinds))


def twins() -> dict[str, Domain]:
    """{twin name: domain} of the domains with a synthetic dataset, built-ins first (`make-sample-data`)."""
    _load()
    return {d.twin: d for d in _DOMAINS.values() if d.twin}


def merged(attribute: str, base: Mapping[str, Any]) -> Mapping[str, Any]:
    """`base` and every registered domain's table `attribute` (records with a `name`, or a mapping), built-ins
    first, as {name: entry}: how a plugin adds to a shared table (`dataset_variables`, `parameter_units`). A
    name given two different entries raises ConfigError naming both owners and the entries. `base` is a
    constant table per `attribute`: the result (read-only) is kept until a domain is registered, so the BMI's
    per-instance checks do not rebuild it."""
    _load()
    if attribute in _MERGED:
        return _MERGED[attribute]
    table, owner = dict(base), dict.fromkeys(base, "the core")
    for domain in _DOMAINS.values():
        entries = getattr(domain, attribute)
        pairs = entries.items() if isinstance(entries, Mapping) else ((e.name, e) for e in entries)
        for name, entry in pairs:
            if name in table and table[name] != entry:
                raise ConfigError(f"{attribute}: domain {domain.name!r} defines {name!r} as {entry!r}, "
                                  f"{owner[name]} as {table[name]!r}")
            table[name] = entry
            owner.setdefault(name, f"domain {domain.name!r}")
    _MERGED[attribute] = MappingProxyType(table)
    return _MERGED[attribute]


def domain_for_checkpoint(path: str | Path) -> Domain:
    """The domain of the checkpoint at `path`, from its recorded physics name (read once per file version;
    CheckpointError naming the file if it is unreadable or no domain runs its physics)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    st = path.stat()
    try:
        return domain_of_physics(_physics_of(path, st.st_mtime_ns, st.st_size))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _physics_of(path: Path, mtime_ns: int, size: int) -> str:
    """The physics name recorded in the checkpoint at `path` (cached per file version)."""
    from dmg_bmi.core.checkpoint import load_checkpoint  # keep `import dmg_bmi.bmi` light

    return load_checkpoint(path).config.phy.name


def refuse_foreign_config_keys(domain: Domain, cfg) -> None:
    """ConfigError naming a BMI config key that only another domain reads, set for a `domain` model."""
    _load()
    for other in _DOMAINS.values():
        for key in other.config_keys:
            if other is not domain and key not in domain.config_keys and getattr(cfg, key, None) is not None:
                raise ConfigError(f"{key}: only a {other.label} checkpoint ({', '.join(other.physics)}) "
                                  f"takes one")
