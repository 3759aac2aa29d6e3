"""The crop evaluation's figures (`dmg_bmi.domains.crop.evaluate`): the twin's noise-free truth redrawn from
its true parameters, and the panels, dates and legend of a field's figure."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, pcse_own_dir

pytest.importorskip("matplotlib")

from dmg_bmi.core.checkpoint import load_checkpoint  # noqa: E402
from dmg_bmi.domains.crop import twin as ct  # noqa: E402
from dmg_bmi.domains.crop.checkpoint import build_crop_model  # noqa: E402
from dmg_bmi.domains.crop.evaluate import crop_figure, predict, twin_truth  # noqa: E402


@pytest.fixture(scope="module")
def twin():
    """A 2-field crop twin with its noise-free truth, and the shipped δWOFOST checkpoint's model."""
    layout = ct.make_layout(n_sites=2, fields_per_site=1, seed=3)
    ds, truth = ct.simulate(layout, ct.parameter_sets(tuple(ct.CROPS), pcse_own_dir()))
    ckpt = load_checkpoint(REPO / "bmi_configs" / "crop_twin_wofost72.pt")
    return ds, truth, ckpt, build_crop_model(ckpt)


def test_the_true_parameters_redraw_the_twins_truth(twin):
    ds, truth, ckpt, model = twin
    values = twin_truth(ds, model.learned)
    names = [f"true_factor_{p}" for p in model.learned_names]
    np.testing.assert_array_equal(values, ds.attribute_array(names))
    outputs, used = predict(model, ckpt, ds, values=values)
    np.testing.assert_array_equal(used, values)
    for name in ("LAI", "TWSO"):
        np.testing.assert_allclose(outputs[name], truth[name], rtol=1e-9, atol=1e-9)
    # a model that learns only some of the parameters the twin varies cannot redraw its truth
    assert twin_truth(ds, model.learned[:1]) is None


def test_a_fields_figure_has_dated_panels_with_units_and_the_truth(twin):
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    ds, truth, ckpt, model = twin
    outputs, _ = predict(model, ckpt, ds)
    fig = crop_figure(ds, outputs, 0, {k: v[0] for k, v in truth.items()}, "held-out site")
    lai, twso = fig.get_axes()
    assert (lai.get_ylabel(), twso.get_ylabel()) == ("LAI (m2 m-2)", "TWSO (kg ha-1)")
    assert lai.get_xlabel() == twso.get_xlabel() == "date"
    assert isinstance(lai.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    assert [t.get_text() for t in lai.get_legend().get_texts()] == ["simulated", "twin truth", "observed"]
    assert fig._suptitle.get_text().startswith(f"field {ds.fields[0]} (held-out site): ")
    plt.close(fig)
    fig = crop_figure(ds, outputs, 1)
    assert "twin truth" not in [line.get_label() for line in fig.get_axes()[0].get_lines()]
    plt.close(fig)
