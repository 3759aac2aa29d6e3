"""Shared test helpers: where the development data lives, and skipping cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DMG_BMI_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str, env: str | None = None) -> Path:
    """Path under ../shared/data (or the directory in env var `env`); skip the test if absent."""
    path = Path(os.environ[env]) if env and os.environ.get(env) else SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data not found at {path} (set {env or 'DMG_BMI_SHARED_DATA'} to run)")
    return path


@pytest.fixture(scope="session")
def parse_cache(request, tmp_path_factory):
    """Folders for caches of parsed input files: in pytest's cache, or temporary without the cacheprovider."""
    cache = getattr(request.config, "cache", None)

    def mkdir(name: str) -> Path:
        return cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)

    return mkdir


@pytest.fixture(scope="session")
def hamon_ckpt(tmp_path_factory) -> Path:
    """A small untrained checkpoint deriving PET by Hamon (reads precipitation and temperature)."""
    from dmg_bmi.ngen.demo import make_demo_checkpoint

    return make_demo_checkpoint(tmp_path_factory.mktemp("ck") / "hamon.pt", nmul=2, hidden=8)


@pytest.fixture(scope="session")
def pet_ckpt(tmp_path_factory) -> Path:
    """The same with `pet_method: forcing` (reads PET as the input water_potential_evaporation_flux)."""
    from dmg_bmi.ngen.demo import make_demo_checkpoint

    return make_demo_checkpoint(tmp_path_factory.mktemp("ck") / "petforcing.pt", nmul=2, hidden=8,
                                pet_method="forcing")


@pytest.fixture(scope="session")
def ngen_env():
    """A real ngen and its venv (`dmg_bmi.ngen.runner.NgenEnv`), prepared once per machine.

    The binary is `$DMG_BMI_NGEN`, else `../shared/ngen/ngen`, else one built with `../shared/ngen/build.sh`
    into the cache (`$DMG_BMI_NGEN_CACHE`, default `~/.cache/dmg_bmi/ngen`). Where none can be had the test
    skips with the reason, or fails when `DMG_BMI_REQUIRE_NGEN=1` (CI sets it, so ngen tests never vanish)."""
    from dmg_bmi.ngen.runner import NgenEnv, NgenError

    shared_ngen = SHARED_DATA.parent / "ngen"
    candidates = [Path(os.environ["DMG_BMI_NGEN"])] if os.environ.get("DMG_BMI_NGEN") else []
    candidates.append(shared_ngen / "ngen")
    cache = Path(os.environ.get("DMG_BMI_NGEN_CACHE", Path.home() / ".cache" / "dmg_bmi" / "ngen"))
    try:
        return NgenEnv.prepare(candidates, cache, REPO, build_script=shared_ngen / "build.sh")
    except NgenError as exc:
        if os.environ.get("DMG_BMI_REQUIRE_NGEN") == "1":
            pytest.fail(f"real ngen required (DMG_BMI_REQUIRE_NGEN=1) but unavailable: {exc}")
        pytest.skip(f"real ngen unavailable: {exc}")
