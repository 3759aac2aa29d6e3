"""Shared test helpers: where the development data lives, and skipping cleanly without it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DMG_BMI_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_sessionstart(session):
    """Build (or load) the native HBV kernel before any test starts a subprocess, so subprocesses load it
    from the cache instead of each compiling it (and a test under a file-size limit never has to)."""
    from dmg_bmi.domains.hydrology import hbv_native

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # where it cannot be built, test_hbv_native says why
        hbv_native.kernel()


def shared_path(*parts: str, env: str | None = None) -> Path:
    """Path under ../shared/data (or the directory in env var `env`); skip the test if absent."""
    path = Path(os.environ[env]) if env and os.environ.get(env) else SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data not found at {path} (set {env or 'DMG_BMI_SHARED_DATA'} to run)")
    return path


PCSE_PP_ENV = "DMG_BMI_PCSE_PP_DIR"
PCSE_PP_DEFAULT = ("pcse_wofost72_pp", "pcse_wofost72_pp_extra")
PCSE_OWN_CASE = "test_potentialproduction_wofost72_01.yaml"


def pcse_pp_dirs() -> list[Path]:
    """Folders of WOFOST 7.2 PP reference cases (PCSE-format YAML): `$DMG_BMI_PCSE_PP_DIR`
    (os.pathsep-separated; each must exist) or PCSE's 44 cases and the extra ones under ../shared/data
    (absent ones are left out with a warning; the test skips when none is there)."""
    env = os.environ.get(PCSE_PP_ENV)
    if env:
        dirs = [Path(p) for p in env.split(os.pathsep) if p]
        missing = [str(p) for p in dirs if not p.is_dir()]
        if missing:
            pytest.fail(f"{PCSE_PP_ENV} names missing folder(s): {', '.join(missing)}")
        return dirs
    dirs = [SHARED_DATA / n for n in PCSE_PP_DEFAULT if (SHARED_DATA / n).is_dir()]
    if not dirs:
        pytest.skip(f"no WOFOST reference cases under {SHARED_DATA} (set {PCSE_PP_ENV} to run)")
    if len(dirs) < len(PCSE_PP_DEFAULT):
        found = [d.name for d in dirs]
        warnings.warn(f"only {found} of {PCSE_PP_DEFAULT} found under {SHARED_DATA}", stacklevel=2)
    return dirs


def pcse_own_dir() -> Path:
    """The folder of PCSE's own 44 PP cases, for tests about those named files (component cases, the crop
    twin's parameter sets): the first folder of `$DMG_BMI_PCSE_PP_DIR` holding them, else the shared data's,
    so that pointing the variable at other cases does not switch these tests off."""
    env = [Path(p) for p in os.environ.get(PCSE_PP_ENV, "").split(os.pathsep) if p]
    for d in (*env, SHARED_DATA / PCSE_PP_DEFAULT[0]):
        if (d / PCSE_OWN_CASE).is_file():
            return d
    pytest.skip(f"PCSE's own cases ({PCSE_OWN_CASE}) are not in {[str(d) for d in env]} or {SHARED_DATA}")


def small_crop_twin(**options):
    """A 3-site, 6-field crop twin layout (seed 1; `options` as `twin.make_layout`'s, e.g. heat_stress=True)
    as float64 model inputs: (parameter sets, layout, physics weather `[T, N, F]`, physics attributes `{k:
    [N]}`, base parameters)."""
    import torch

    from dmg_bmi.domains.crop import twin as ct
    from dmg_bmi.domains.crop.delta import base_params, physics_attrs, physics_weather

    sets = ct.parameter_sets(tuple(ct.CROPS), pcse_own_dir())
    layout = ct.make_layout(3, 2, seed=1, **options)
    x = torch.as_tensor(physics_weather(layout))
    attrs = {k: torch.as_tensor(v) for k, v in physics_attrs(layout).items()}
    return sets, layout, x, attrs, base_params(sets, layout.calendars)


@pytest.fixture(scope="session")
def pp_cases(parse_cache):
    """Every reference case of every `pcse_pp_dirs()` folder (parsed once per session)."""
    from dmg_bmi.domains.crop.pcse import load_dir

    cache = parse_cache("wofost_cases")
    return [c for d in pcse_pp_dirs() for c in load_dir(d, "*.yaml", cache_dir=cache)]


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
