"""The paper's seed population equals the list in METHOD.md, read from METHOD.md itself."""

import re
from collections import Counter

from ecad.schedules import ScheduleLayout
from ecad.schedules.paper import PAPER_SEEDS, paper_seed_population


def _method_list(reference_dir) -> Counter:
    """``(heuristic, params)`` of every candidate of METHOD.md's PixArt-α 256 seed population."""
    text = (reference_dir / "METHOD.md").read_text()
    section = text.split("Published seed population, PixArt-α 256")[1].split("(The published")[0]
    out: Counter = Counter()
    for item in section.split("\n- ")[1:]:
        name = re.match(r"`(\w+)` \((\d+)", item)
        kind, count = name.group(1), int(name.group(2))
        pairs = [tuple(map(int, p)) for p in re.findall(r"\((\d+),(\d+)\)", item)]
        if kind == "default":
            found = [("default", ())]
        elif kind.startswith("evenly_cache_"):  # listed as (blocks, steps)
            found = [
                (f"{kind}_evenly_spaced", (("num_affected_steps", s), ("num_affected_blocks", b)))
                for b, s in pairs
            ]
        elif kind == "tgate_without_ca_avg":  # listed as (m, k)
            found = [(kind, (("m", m), ("k", k))) for m, k in pairs]
        else:
            ns = re.search(r"n = ([\d, ]+)", item).group(1)
            found = [(kind, (("n", int(n)),)) for n in ns.split(",")]
        assert len(found) == count, item
        out.update(found)
    return out


def test_pixart_seed_population_is_methods_list(reference_dir):
    expected = _method_list(reference_dir)
    assert sum(expected.values()) == 72
    assert Counter((c.name, c.params) for c in PAPER_SEEDS["pixart"]) == expected


def test_seed_schedules_are_built_by_the_generators_and_distinct():
    layout = ScheduleLayout.for_family("pixart-alpha")
    population = paper_seed_population(layout, 20)
    assert len(population) == 72 and len({s.digest() for s in population}) == 72
    assert all(s.custom_attention is None for s in population)  # plain caching: genomes
    assert [s for s in population if s.bits.all()] == population[:1]  # only default is uncached
    sigma = paper_seed_population(ScheduleLayout.for_family("pixart-sigma"), 20)
    assert [s.genome().tolist() for s in sigma] == [s.genome().tolist() for s in population]


def test_flux_seed_sources():
    calls = PAPER_SEEDS["flux"]
    assert [str(c) for c in calls] == ["default"] + [
        f"recompute_all_every_n:{n}" for n in range(2, 8)
    ]
    assert len(paper_seed_population(ScheduleLayout.for_family("flux-dev"), 20)) == 7
