"""The figures of `dmg-bmi evaluate` (`dmg_bmi.train.plots`): panels, titles, units and axes of the
hydrographs and of the skill across basins (CDF, map), the files the verb writes, and bad input refused by
name."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from train_toy import toy_config, toy_dataset

pytest.importorskip("matplotlib")

from dmg_bmi.cli import main  # noqa: E402
from dmg_bmi.train import plots  # noqa: E402

DATES = np.arange(np.datetime64("2001-01-01"), np.datetime64("2005-01-01"))


def _series(seed=0):
    rng = np.random.default_rng(seed)
    p = rng.gamma(0.5, 6.0, DATES.size) * (rng.uniform(size=DATES.size) < 0.4)
    obs = np.convolve(p, np.exp(-np.arange(30) / 5.0), "full")[:DATES.size] / 5.0
    return p, obs, obs * 0.8 + 0.1


@pytest.fixture(scope="module")
def plt():
    return plots.pyplot()


def test_the_hydrograph_has_every_panel_with_units(plt):
    p, obs, sim = _series()
    fig = plots.hydrograph_figure(DATES, sim, obs, "b1  ·  50 km²", precip=p)
    axes = fig.get_axes()
    assert len(axes) == 6  # P + flow, log flow, P + flow of the zoom, flow-duration curve
    labels = [ax.get_ylabel() for ax in axes]
    assert labels.count("P (mm/d)") == 2 and labels.count("streamflow (mm/d)") == 2
    log = [ax for ax in axes if ax.get_yscale() == "log"]
    assert len(log) == 2 and any(ax.get_xlabel() == "exceedance probability (%)" for ax in log)
    assert all(ax.get_ylim()[0] > ax.get_ylim()[1] for ax in axes if ax.get_ylabel().startswith("P "))
    assert sum(ax.get_xlabel() == "date" for ax in axes) == 2
    # observed drawn on top of simulated in every flow panel; the legend is the figure's, not a panel's
    for ax in axes:
        z = {line.get_label(): line.get_zorder() for line in ax.get_lines()}
        if "observed" in z and "simulated" in z and ax.get_xlabel() == "date":
            assert z["observed"] > z["simulated"]
        assert ax.get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["observed", "simulated"]
    zoom = [ax.get_title(loc="left") for ax in axes if ax.get_title(loc="left").startswith("zoom")]
    days = DATES[plots.zoom_window(DATES, obs)]
    assert zoom == [f"zoom: 365 days around the largest observed flow ({days[0]}..{days[-1]})"]
    assert fig._suptitle.get_text() == "b1  ·  50 km²"
    plt.close(fig)


def test_without_precipitation_or_observations_the_panels_shrink(plt):
    _, _, sim = _series()
    fig = plots.hydrograph_figure(DATES, sim, None, "b2")
    assert len(fig.get_axes()) == 4
    assert all(line.get_label() == "simulated" for ax in fig.get_axes() for line in ax.get_lines())
    assert "largest simulated flow" in fig.get_axes()[2].get_title(loc="left")
    plt.close(fig)


def test_the_title_names_basin_area_period_role_and_scores():
    title = plots.basin_title("01013500", DATES, {"name": "Fish River", "area_km2": 2252.7},
                              {"role": "held-out", "nse": 0.512, "kge": -0.3})
    assert title == ("01013500 Fish River  ·  2,253 km²  ·  2001-01-01..2004-12-31  ·  held-out\n"
                     "NSE 0.51   KGE -0.30")
    assert plots.basin_title("b", DATES) == "b  ·  2001-01-01..2004-12-31"


def test_zoom_window_is_centred_on_the_peak_and_kept_inside():
    flow = np.zeros(DATES.size)
    flow[700] = 5.0
    w = plots.zoom_window(DATES, flow)
    assert w.stop - w.start == 365 and w.start <= 700 < w.stop and abs((w.start + w.stop) / 2 - 700) <= 1
    flow[:] = 0.0
    flow[-3] = 5.0
    assert plots.zoom_window(DATES, flow) == slice(DATES.size - 365, DATES.size)
    assert plots.zoom_window(DATES[:200], flow[:200]) == slice(0, 50)  # a quarter of a short period
    assert plots.zoom_window(DATES, np.full(DATES.size, np.nan)) == slice(0, DATES.size)


def test_flow_duration_sorts_high_to_low_and_drops_gaps():
    prob, flow = plots.flow_duration(np.array([1.0, np.nan, 3.0, 2.0]))
    np.testing.assert_allclose(prob, [25.0, 50.0, 75.0])
    np.testing.assert_allclose(flow, [3.0, 2.0, 1.0])


def test_hydrographs_refuse_a_series_of_the_wrong_shape_by_name(tmp_path):
    p, obs, sim = _series()
    with pytest.raises(ValueError, match=r"precip: shape \(1, 10\), expected \(1, 1461\)"):
        plots.hydrographs(DATES, ["b"], sim[None], obs[None], tmp_path, precip=p[None, :10])
    assert not list(tmp_path.glob("*.png"))


ROWS = [{"basin": "a", "role": "train", "nse": 0.8, "kge": 0.7},
        {"basin": "b", "role": "train", "nse": -3.0, "kge": 0.2},
        {"basin": "c", "role": "held-out", "nse": 0.5, "kge": float("nan")}]


def test_the_skill_cdf_has_a_line_per_role_and_says_what_it_clipped(plt):
    fig = plots.skill_cdf_figure(ROWS, "toy")
    nse, kge = fig.get_axes()
    assert nse.get_xlabel() == "NSE (-), clipped at -1" and nse.get_ylabel() == "fraction of basins (-)"
    assert [t.get_text() for t in nse.get_legend().get_texts()] == [
        "train: 2 basins, median -1.10, 1 below -1", "held-out: 1 basin, median 0.50"]
    assert [t.get_text() for t in kge.get_legend().get_texts()] == [
        "train: 2 basins, median 0.45", "held-out: no basin with a score"]
    x, y = nse.get_lines()[0].get_data()
    assert x.min() == -1.0 and y[-1] == 1.0  # -3 drawn at the floor; the CDF reaches 1
    plt.close(fig)


def test_compare_rows_are_cdf_lines_coloured_by_their_role_word(tmp_path, plt):
    """`skill_figures(compare=...)`: the compare rows are their own CDF line (colour of their role's first
    word), and the map shows only `rows`."""
    compare = [{"basin": "a", "role": "train (median of 2 folds)", "nse": 0.9, "kge": 0.8}]
    held = [{"basin": "a", "role": "held-out", "nse": 0.5, "kge": 0.4}]
    fig = plots.skill_cdf_figure([*held, *compare])
    lines = fig.get_axes()[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["held-out: 1 basin, median 0.50",
                                                "train (median of 2 folds): 1 basin, median 0.90"]
    assert lines[1].get_color() == "tab:blue" and lines[0].get_color() == "tab:red"
    plt.close(fig)
    paths = plots.skill_figures(held, tmp_path, {"a": (-100.0, 40.0)}, compare=compare)
    assert [p.name for p in paths] == ["skill_cdf.png", "skill_map.png"]


def test_the_skill_map_places_each_basin_and_shares_one_colour_bar(plt):
    fig = plots.skill_map_figure(ROWS, {"a": (-100.0, 40.0), "b": (-90.0, 35.0)})
    axes = fig.get_axes()
    assert len(axes) == 3 and axes[2].get_ylabel() == "score (-), clipped at -1"  # two maps + the bar
    assert axes[0].get_xlabel() == "longitude (°E)" and axes[0].get_ylabel() == "latitude (°N)"
    offsets = np.concatenate([c.get_offsets() for c in axes[0].collections])
    np.testing.assert_allclose(sorted(map(tuple, offsets)), [(-100.0, 40.0), (-90.0, 35.0)])  # c: no place
    plt.close(fig)


def test_skill_figures_skip_the_map_without_coordinates_and_say_so(tmp_path, capsys):
    paths = plots.skill_figures(ROWS, tmp_path, {"a": (np.nan, 40.0)})
    assert [p.name for p in paths] == ["skill_cdf.png"] and paths[0].stat().st_size > 10_000
    assert "skill map skipped: the dataset has no finite lat/lon" in capsys.readouterr().out
    with pytest.raises(ValueError, match="skill figures: the metrics rows have no kge"):
        plots.skill_figures([{"basin": "a", "nse": 0.1}], tmp_path, {})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    toy_dataset().save(root / "toy.nc")
    raw = toy_config("toy.nc", "runs")
    raw["run"]["exact_dir"] = str(root / "run")
    (root / "cfg.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(root / "cfg.yaml"), "--set", "train.epochs=1"]) == 0
    return root


def test_evaluate_writes_the_skill_figures_and_one_hydrograph_per_basin(trained, capsys):
    out = trained / "ev"
    assert main(["evaluate", "--run-dir", str(trained / "run"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    pngs = sorted((out / "hydrographs").glob("hydrograph_*.png"))
    assert [p.name for p in pngs] == [f"hydrograph_b{i}.png" for i in range(6)]
    assert all(20_000 < p.stat().st_size < 400_000 for p in pngs)
    assert f"hydrographs: {out / 'hydrographs'} (6 PNGs)" in text
    assert (out / "skill_cdf.png").is_file() and (out / "skill_map.png").is_file()
    assert f"skill across basins: {out} (2 PNGs)" in text
