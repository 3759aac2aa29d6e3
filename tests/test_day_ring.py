"""The shared hourly ring of the daily chains: steps per day, wrap-around and restore checks."""

import numpy as np
import pytest

from dmg_bmi.errors import InputError
from dmg_bmi.ngen.day_ring import DayRing
from dmg_bmi.variables import INPUT_NAMES

pytestmark = pytest.mark.numpy1


@pytest.mark.parametrize("dt", [0, 1800, 7 * 3600, 2 * 86400])
def test_time_step_must_be_whole_hours_dividing_a_day(dt):
    with pytest.raises(InputError, match=f"time step {dt} s"):
        DayRing(dt)


def test_push_wraps_and_round_trips():
    ring = DayRing(3 * 3600)
    assert ring.k == 8
    for i in range(11):
        ring.push(np.full(len(INPUT_NAMES), float(i)))
    assert ring.n == 11
    assert ring.ring[:, 0].tolist() == [8, 9, 10, 3, 4, 5, 6, 7]
    other = DayRing(3 * 3600)
    other.ring_from_arrays(ring.ring_to_arrays())
    assert other.n == 11 and np.array_equal(other.ring, ring.ring)


def test_restore_with_another_step_count_names_both():
    saved = DayRing(7200).ring_to_arrays()
    with pytest.raises(InputError, match="saved with 12 steps per day, this run has 24"):
        DayRing(3600).ring_from_arrays(saved)
