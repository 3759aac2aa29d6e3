"""The figures of `dmg-bmi evaluate` (`dmg_bmi.train.plots`): panels, titles, units and axes of the
hydrographs, the files the verb writes, and bad input refused by name."""

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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    toy_dataset().save(root / "toy.nc")
    raw = toy_config("toy.nc", "runs")
    raw["run"]["exact_dir"] = str(root / "run")
    (root / "cfg.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(root / "cfg.yaml"), "--set", "train.epochs=1"]) == 0
    return root


def test_evaluate_writes_one_hydrograph_per_basin(trained, capsys):
    out = trained / "ev"
    assert main(["evaluate", "--run-dir", str(trained / "run"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    pngs = sorted((out / "hydrographs").glob("hydrograph_*.png"))
    assert [p.name for p in pngs] == [f"hydrograph_b{i}.png" for i in range(6)]
    assert all(20_000 < p.stat().st_size < 400_000 for p in pngs)
    assert f"hydrographs: {out / 'hydrographs'} (6 PNGs)" in text
