import numpy as np
import pytest

from ecad.errors import ScheduleFormatError
from ecad.schedules import Schedule, ScheduleLayout


@pytest.fixture
def layout():
    return ScheduleLayout.for_family("flux-dev", {"double": 2, "single": 3})


def test_slots_follow_family_order(layout):
    keys = [(s.block_key, s.component) for s in layout.slots]
    assert keys[:3] == [("0", "full_attn"), ("0", "full_ff"), ("0", "full_ff_context")]
    assert keys[6] == ("single_0", "single_attn")
    assert layout.num_slots == 2 * 3 + 3 * 3


def test_immutable(layout):
    s = Schedule.full(layout, 4)
    with pytest.raises(ValueError):
        s.bits[0, 0] = False
    with pytest.raises(AttributeError):
        s.layout = None


def test_genome_round_trip_and_digest(layout):
    rng = np.random.default_rng(0)
    bits = rng.random((5, layout.num_slots)) > 0.5
    s = Schedule(layout, bits)
    back = Schedule.from_genome(layout, 5, s.genome())
    assert back == s and back.digest() == s.digest()
    assert s.with_metadata(name="other").digest() == s.digest()
    flipped = s.genome()
    flipped[7] = ~flipped[7]
    assert Schedule.from_genome(layout, 5, flipped).digest() != s.digest()


def test_step_zero_always_computed(layout):
    bits = np.zeros((3, layout.num_slots), bool)
    s = Schedule(layout, bits)
    assert s.effective()[0].all() and not s.effective()[1:].any()
    assert s.reuse_fraction() == pytest.approx(2 / 3)


def test_bad_shapes(layout):
    with pytest.raises(ScheduleFormatError, match="shape"):
        Schedule(layout, np.ones((3, 4), bool))
    with pytest.raises(ScheduleFormatError, match="boolean"):
        Schedule(layout, np.ones((3, layout.num_slots), int))
    with pytest.raises(ScheduleFormatError, match="genome"):
        Schedule.from_genome(layout, 3, np.ones(5, bool))
