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
