"""An ngen run folder for one δWOFOST (crop) field, as an ngen catchment `cat-N` draining to a nexus `nex-N`.

Layout written by `write_crop_run_folder` (self-contained like `writers.write_run_folder`: ngen runs from
inside it, and it still runs after being copied or moved):

    realization.json            bmi_python; main output the yield (TWSO, kg ha-1); all nine crop outputs
    catchments.geojson          the field: id `cat-N`, properties.areasqkm (km2), properties.toid `nex-N`
    nexus.geojson               the field's nexus `nex-N`
    config/<id>.yml             the field's BMI config (checkpoint -> ../model/<file>)
    forcing/<id>.csv            copy of the field's hourly AORC forcing CSV
    model/<checkpoint file>     copy of the checkpoint

Run it as `ngen catchments.geojson all nexus.geojson all realization.json`. ngen expects a main output in
metres: it cannot convert the yield (kg ha-1), warns once ("Unit conversion failure") and passes the raw
value on, so the nexus receives yield x areasqkm x 1e6 / 3600 s, a number with no meaning.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dmg_bmi.atomic import write_bytes, write_text
from dmg_bmi.bmi_config import BmiConfig, read_yaml, resolve
from dmg_bmi.core.config import dump_yaml, from_dict
from dmg_bmi.domains.crop.variables import OUTPUT_NAMES
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.writers import CATCHMENT_ID, NEXUS_ID, realization_dict, variables_names_map

CROP_MAIN_OUTPUT = "crop_storage-organ__dry_mass-per-area_density"  # TWSO, the yield (kg ha-1)


def _header(text: str) -> str:
    """The leading comment lines of a YAML text (they describe the field), newline-terminated."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line + "\n")
    return "".join(lines)


def write_crop_run_folder(out_dir: str | Path, config: str | Path, forcing_csv: str | Path, *,
                          area_km2: float, longitude: float, nexus_id: str = "nex-1") -> Path:
    """Write the run folder of the crop field configured by the BMI YAML `config` (see the module docstring).

    The field's ngen id is the config's `catchment_id` (must be `cat-N`); `area_km2` (km2, > 0) is its
    `properties.areasqkm`; `longitude` (degrees east) and the config's `latitude` (degrees north) place its
    point geometry. `forcing_csv`: hourly forcing over the config's `start_time`..`end_time` with a column
    for each input the checkpoint reads (AORC names such as `precip_rate`, see
    `dmg_bmi.core.variables.FORCING_COLUMNS`); the realization's `variables_names_map` maps them. The written
    config keeps the source's leading comment lines (UTF-8) and its values; `initial_state`/`final_state`,
    when set, become absolute paths (they stay where the source config points). Everything is checked
    before anything is written; each refusal names the file, key and value."""
    from dmg_bmi.core.checkpoint import load_checkpoint
    from dmg_bmi.domains.crop.checkpoint import is_crop
    from dmg_bmi.ngen.needs import needed_inputs

    config, forcing_csv, out = Path(config), Path(forcing_csv), Path(out_dir)
    data = read_yaml(config)
    try:
        cfg = from_dict(BmiConfig, dict(data))
    except ConfigError as exc:
        raise ConfigError(f"crop field config {config}: {exc}") from None
    problems = []
    if not CATCHMENT_ID.fullmatch(cfg.catchment_id):
        problems.append(f"catchment_id {cfg.catchment_id!r} is not of the form cat-N (ngen skips such a "
                        "field, then aborts on its empty nexus); keep the field's own name in a comment")
    if cfg.checkpoint is None:
        problems.append("checkpoint: a crop field runs one checkpoint, not 'members'")
    if cfg.latitude is None:
        problems.append("latitude: not set (degrees north; the field's point geometry needs it)")
    if not NEXUS_ID.fullmatch(nexus_id):
        problems.append(f"nexus id {nexus_id!r} is not of the form nex-N")
    if not (math.isfinite(area_km2) and area_km2 > 0):
        problems.append(f"area_km2 {area_km2!r} is not a positive number of km2")
    if not -180 <= longitude <= 180:
        problems.append(f"longitude {longitude!r} is not in -180..180 degrees east")
    if problems:
        raise ConfigError(f"crop field config {config}: " + "; ".join(problems))
    base = config.resolve().parent
    checkpoint = resolve(base, cfg.checkpoint)
    if not is_crop(load_checkpoint(checkpoint)):
        raise ConfigError(f"crop field config {config}: checkpoint {checkpoint} is not a δWOFOST (crop) "
                          "checkpoint; write hydrology run folders with dmg-bmi realization")
    names_map = variables_names_map(needed_inputs(checkpoint), {cfg.catchment_id: forcing_csv})
    real = realization_dict("bmi_python", "./config/{{id}}.yml", "./forcing/", cfg.start_time, cfg.end_time,
                            cfg.time_step, main_output=CROP_MAIN_OUTPUT,
                            output_variables=list(OUTPUT_NAMES), variables_names_map=names_map)
    data["checkpoint"] = f"../model/{checkpoint.name}"
    for key in ("initial_state", "final_state"):
        if data.get(key) is not None:
            data[key] = str(resolve(base, data[key]))
    point = {"type": "Point", "coordinates": [longitude, cfg.latitude]}  # WGS84 lon, lat (degrees)
    field = {"type": "Feature", "id": cfg.catchment_id, "geometry": point,
             "properties": {"areasqkm": area_km2, "toid": nexus_id}}
    nexus = {"type": "Feature", "id": nexus_id, "geometry": point, "properties": {}}

    cid = cfg.catchment_id
    write_bytes(out / "model" / checkpoint.name, checkpoint.read_bytes())
    write_bytes(out / "forcing" / f"{cid}.csv", forcing_csv.read_bytes())
    write_text(out / "config" / f"{cid}.yml", _header(config.read_text(encoding="utf-8"))
               + dump_yaml(data))
    for name, feature in (("catchments.geojson", field), ("nexus.geojson", nexus)):
        collection = {"type": "FeatureCollection", "features": [feature]}
        write_text(out / name, json.dumps(collection, indent=2) + "\n")
    write_text(out / "realization.json", json.dumps(real, indent=2) + "\n")
    return out
