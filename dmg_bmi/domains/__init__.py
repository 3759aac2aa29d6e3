"""Domains: what differs between hydrology, crops and plugin models, behind one `Domain` interface.

What lives here: `base.py` (the `Domain` interface and the BMI session it opens), this registry, and one
package per built-in domain (`hydrology/`, `crop/`), each defining its `DOMAIN` instance. Plugins add theirs
under the entry-point group ``dmg_bmi.domains`` (the entry point resolves to a `Domain` instance or class).

What it may import: a domain imports the core (`dmg_bmi.checkpoint`, `dmg_bmi.handler`, `dmg_bmi.ngen`,
`dmg_bmi.variables`, ...) and its own modules; domains never import each other. The core (`dmg_bmi.bmi`)
imports only this registry, never a domain package, and never tests which domain it holds.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from pathlib import Path

from dmg_bmi.domains.base import BmiSession, Domain, TimeAdapter
from dmg_bmi.errors import CheckpointError, ConfigError

__all__ = ["BmiSession", "Domain", "TimeAdapter", "available", "domain_for_checkpoint", "domain_of_physics",
           "get_domain", "refuse_foreign_config_keys", "register"]

ENTRY_POINT_GROUP = "dmg_bmi.domains"
_BUILTIN = ("dmg_bmi.domains.hydrology:DOMAIN", "dmg_bmi.domains.crop:DOMAIN")
_DOMAINS: dict[str, Domain] = {}
_loaded = False


def register(domain: Domain) -> Domain:
    """Add `domain` to the registry; a name or physics name already taken raises ConfigError naming both."""
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
    _DOMAINS[domain.name] = domain
    return domain


def _resolve(value: str, what: str) -> Domain:
    """The Domain at `value` ("module:attribute"; a Domain class is instantiated)."""
    module, _, attr = value.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as exc:
        raise ConfigError(f"{what} ({value!r}) failed to load: {type(exc).__name__}: {exc}") from exc
    domain = obj() if isinstance(obj, type) and issubclass(obj, Domain) else obj
    if not isinstance(domain, Domain) or not domain.name:
        raise ConfigError(f"{what} ({value!r}) gives {domain!r}, not a named dmg_bmi.domains.Domain")
    return domain


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
    from dmg_bmi.checkpoint import load_checkpoint  # keep `import dmg_bmi.bmi` light

    return load_checkpoint(path).config.phy.name


def refuse_foreign_config_keys(domain: Domain, cfg) -> None:
    """ConfigError naming a BMI config key that only another domain reads, set for a `domain` model."""
    _load()
    for other in _DOMAINS.values():
        for key in other.config_keys:
            if other is not domain and key not in domain.config_keys and getattr(cfg, key, None) is not None:
                raise ConfigError(f"{key}: only a {other.label} checkpoint ({', '.join(other.physics)}) "
                                  f"takes one")
