"""The shared hourly ring of the daily chains: steps per day, the model's own inputs, wrap-around and restore
checks."""

import numpy as np
import pytest

from dmg_bmi.errors import InputError
from dmg_bmi.ngen.day_ring import DayRing

pytestmark = pytest.mark.numpy1

NAMES = ("atmosphere_water__liquid_equivalent_precipitation_rate", "land_surface_air__temperature")


@pytest.mark.parametrize("dt", [0, 1800, 7 * 3600, 2 * 86400])
def test_time_step_must_be_whole_hours_dividing_a_day(dt):
    with pytest.raises(InputError, match=f"time step {dt} s"):
        DayRing(dt, NAMES)


def test_push_wraps_and_round_trips():
    ring = DayRing(3 * 3600, NAMES)
    assert ring.k == 8 and ring.ring.shape == (8, 2)  # one column per input the model reads, no more
    for i in range(11):
        ring.push(np.full(len(NAMES), float(i)))
    assert ring.n == 11
    assert ring.ring[:, 0].tolist() == [8, 9, 10, 3, 4, 5, 6, 7]
    other = DayRing(3 * 3600, NAMES)
    other.ring_from_arrays(ring.ring_to_arrays())
    assert other.n == 11 and np.array_equal(other.ring, ring.ring)


def test_restore_with_another_step_count_names_both():
    saved = DayRing(7200, NAMES).ring_to_arrays()
    with pytest.raises(InputError, match="saved with 12 steps per day, this run has 24"):
        DayRing(3600, NAMES).ring_from_arrays(saved)


def test_restore_with_other_inputs_or_a_bad_count_is_refused():
    saved = DayRing(3600, NAMES).ring_to_arrays()
    with pytest.raises(InputError, match=r"records of 2 inputs, this model reads 3 \(\[.*'x'\]\)"):
        DayRing(3600, (*NAMES, "x")).ring_from_arrays(saved)
    for bad in (np.array([-5]), np.array([1.5]), np.array([1, 2])):
        with pytest.raises(InputError, match="record count"):
            DayRing(3600, NAMES).ring_from_arrays({**saved, "n": bad})
