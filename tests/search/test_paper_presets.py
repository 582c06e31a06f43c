"""The paper presets resolve to the reference's settings (METHOD.md §1-2), field by field, and
the spec options they use behave as the reference's operators and constraint do."""

from pathlib import Path

import numpy as np
import pytest
from pymoo.core.population import Population

from ecad.errors import ConfigError
from ecad.schedules import ScheduleLayout
from ecad.schedules.catalog import HeuristicCall
from ecad.schedules.io import write_schedule
from ecad.search.initial import initial_genomes
from ecad.search.nsga import Nsga2
from ecad.search.objectives import constraint
from ecad.search.setting import layout_for
from ecad.search.spec import load_spec
from tests.search.conftest import write_spec

REPO = Path(__file__).resolve().parents[2]
PRESETS = REPO / "specs" / "paper"


@pytest.fixture
def benchmark_prompts(reference_dir, monkeypatch):
    path = reference_dir / "prompts" / "ImageRewardPrompts.json"
    monkeypatch.setenv("ECAD_IMAGEREWARD_BENCHMARK_PROMPTS", str(path))
    return path


# family, weights, guidance, population, seed-population kind (METHOD.md §1-2)
REFERENCE = {
    "pixart-alpha-256": ("pixart-alpha", "PixArt-alpha/PixArt-XL-2-256x256", 4.5, 72, "paper"),
    "pixart-sigma-256": ("pixart-sigma", "PixArt-alpha/PixArt-Sigma-XL-2-256x256", 4.5, 72,
                         "from_search"),
    "flux-dev-256": ("flux-dev", "black-forest-labs/FLUX.1-dev", 5.0, 24, "paper"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_preset_resolves_to_the_reference_setting(name, benchmark_prompts):
    import json

    filled = ["initial_population.from_search=paper-pixart-alpha-256-0123456789"]
    spec = load_spec(PRESETS / f"{name}.yaml", filled if "sigma" in name else [])
    family, weights, guidance, population, seeds = REFERENCE[name]
    assert (spec.family, spec.weights, spec.guidance) == (family, weights, guidance)
    assert (spec.resolution, spec.steps, spec.images_per_prompt) == (256, 20, 10)
    assert (spec.image_seed, spec.image_seed_rule) == (0, "reference")  # image i: generator(i)
    items = json.loads(benchmark_prompts.read_text())
    assert spec.prompts.texts == tuple(i["prompt"] for i in items)  # the 100, in file order
    assert spec.prompts.named == "imagereward-benchmark-100" and spec.prompts.limit is None
    assert spec.quality.scorer == "image-reward" and spec.quality.options.get("tf32") is False
    assert (spec.cost.mode, spec.cost.batch) == ("macs-linear", 2)
    assert (spec.crossover.points, spec.crossover.prob) == (4, 0.9)
    assert (spec.mutation.individual_prob, spec.mutation.bit_prob) == (0.05, None)
    assert (spec.min_diff, spec.min_diff_counts) == (1, "genome")
    assert spec.population == population and spec.seed == 0
    assert spec.initial_population.kind == seeds and not spec.initial_population.truncate
    if family == "pixart-sigma":
        assert spec.cost.options["text_tokens"] == 120
        assert spec.initial_population.generations == (125, 200)  # α's generations 125-200


def test_paper_mutation_flips_005_bits_per_child(benchmark_prompts):
    """Through the real operator, as the reference's BitflipMutation(prob=0.05)."""
    spec = load_spec(PRESETS / "pixart-alpha-256.yaml")
    n_var = layout_for(spec).num_slots * spec.steps
    assert n_var == 1680
    driver = Nsga2(n_var, spec)
    mutation = driver.algorithm.mating.mutation
    rng = np.random.default_rng(0)
    children, flips = 20_000, []
    for _ in range(2):
        X = rng.random((children, n_var)) < 0.5
        out = mutation.do(driver.problem, Population.new("X", X.copy()), random_state=rng)
        flips.append((np.asarray(out.get("X"), bool) != X).sum(axis=1))
    flips = np.concatenate(flips)
    # 5% of children mutated, ~Poisson(1) bits each: mean 0.05 (standard error ~0.0016), and
    # 5% x (1 - 1/e) = 3.2% of children change at all
    assert flips.mean() == pytest.approx(0.05, abs=0.01)
    assert 0.026 < (flips > 0).mean() < 0.038


def test_project_default_mutation_flips_about_one_bit(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    driver = Nsga2(1680, spec)
    rng = np.random.default_rng(1)
    X = rng.random((5_000, 1680)) < 0.5
    out = driver.algorithm.mating.mutation.do(
        driver.problem, Population.new("X", X.copy()), random_state=rng
    )
    assert (np.asarray(out.get("X"), bool) != X).sum(axis=1).mean() == pytest.approx(1.0, abs=0.1)


def test_paper_seed_population_through_the_spec(tmp_path):
    spec = load_spec(write_spec(tmp_path, weights="PixArt-alpha/PixArt-XL-2-256x256",
                                resolution=256, steps=20, population=72,
                                initial_population="paper"))  # fmt: skip
    layout = layout_for(spec)
    X = initial_genomes(spec.initial_population, layout, 20, 0, lambda *_: [])
    assert X.shape == (72, 1680) and len({row.tobytes() for row in X}) == 72
    first = Nsga2(1680, spec, X).algorithm.initialization.sampling
    assert np.array_equal(np.asarray(first, bool), X)  # used as given: no random rows


def test_more_seeds_than_population_is_an_error_unless_truncated(tmp_path):
    base = dict(weights="PixArt-alpha/PixArt-XL-2-256x256", resolution=256, steps=20,
                population=24)  # fmt: skip
    spec = load_spec(write_spec(tmp_path, initial_population="paper", **base))
    X = initial_genomes(spec.initial_population, layout_for(spec), 20, 0, lambda *_: [])
    with pytest.raises(ConfigError, match="72 distinct seed schedules but population is 24"):
        Nsga2(1680, spec, X)
    spec = load_spec(
        write_spec(tmp_path, initial_population={"paper": True, "truncate": True}, **base)
    )
    kept = Nsga2(1680, spec, X).algorithm.initialization.sampling
    assert np.array_equal(np.asarray(kept, bool), X[:24])


def test_every_published_heuristic_in_a_spec_and_true_tgate_refused(tmp_path):
    items = [
        "recompute_all_every_n:2",
        "recompute_ca_sa_every_n:4",
        {"name": "evenly_cache_ff_evenly_spaced", "steps": 3, "blocks": 2},
        "middle_cache_ca_evenly_spaced:num_affected_steps=2:num_affected_blocks=1",
        "tgate_without_ca_avg:4:1",
        "fora:3",
        "random:0.3",
    ]
    spec = load_spec(write_spec(tmp_path, initial_population={"heuristics": items}))
    assert spec.initial_population.items[2] == "evenly_cache_ff_evenly_spaced:3:2"
    X = initial_genomes(spec.initial_population, layout_for(spec), spec.steps, 0, lambda *_: [])
    assert X.shape == (7, layout_for(spec).num_slots * spec.steps)
    with pytest.raises(ConfigError, match="use tgate_without_ca_avg with the same m and k"):
        load_spec(write_spec(tmp_path, initial_population={"heuristics": ["tgate:10:1"]}))
    with pytest.raises(ConfigError, match="recompute_attn_every_n applies to flux"):
        load_spec(
            write_spec(tmp_path, initial_population={"heuristics": ["recompute_attn_every_n:2"]})
        )


def test_true_tgate_file_in_a_seed_directory_is_a_clear_error(tmp_path):
    seeds = tmp_path / "seeds"
    layout = ScheduleLayout.for_family("pixart-alpha", {"blocks": 2})
    write_schedule(HeuristicCall.of("tgate", m=3, k=1).build(layout, 6), seeds / "tg.json")
    spec = load_spec(write_spec(tmp_path, initial_population={"schedules_dir": str(seeds)}))
    with pytest.raises(ConfigError, match="cannot be a member of a search population"):
        initial_genomes(spec.initial_population, layout_for(spec), 6, 0, lambda *_: [])


def test_min_diff_counts_step0_bits_only_in_genome_mode():
    layout = ScheduleLayout.for_family("pixart-alpha", {"blocks": 2})
    bits = np.ones((4, layout.num_slots), bool)
    bits[0, 0] = False  # differs from all-true only where nothing is ever cached
    from ecad.schedules import Schedule

    s = Schedule(layout, bits)
    assert constraint(s, 1, "genome") == 0.0  # feasible, as in the reference
    assert constraint(s, 1, "effective") == 1.0  # infeasible: it runs exactly as no cache


def test_min_diff_spec_forms(tmp_path):
    assert load_spec(write_spec(tmp_path, min_diff=3)).min_diff_counts == "effective"
    spec = load_spec(write_spec(tmp_path, min_diff={"value": 1, "counts": "genome"}))
    assert (spec.min_diff, spec.min_diff_counts) == (1, "genome")
    plain = load_spec(write_spec(tmp_path, min_diff=1))
    assert spec.digest() != plain.digest()
    assert "min_diff_counts" not in plain.to_json()  # earlier specs keep their digests
    with pytest.raises(ConfigError, match=r"min_diff\.counts"):
        load_spec(write_spec(tmp_path, min_diff={"value": 1, "counts": "bits"}))


def test_true_tgate_baseline_never_shares_its_twins_images(tmp_path):
    """As a search baseline (evaluated beside the front), true TGATE has its own images."""
    from ecad.search.setting import EvaluationSetting

    spec = load_spec(write_spec(tmp_path))
    setting = EvaluationSetting.from_spec(spec)
    layout = layout_for(spec)
    true = HeuristicCall.of("tgate", m=3, k=1).build(layout, spec.steps)
    twin = HeuristicCall.of("tgate_without_ca_avg", m=3, k=1).build(layout, spec.steps)
    assert setting.generation_key(true) != setting.generation_key(twin)
    assert setting.generation_key(twin) == setting.generation_key(twin.with_metadata(name="x"))
    reference = EvaluationSetting.from_spec(
        load_spec(write_spec(tmp_path, image_seed_rule="reference"))
    )
    assert reference.generation_key(twin) != setting.generation_key(twin)
    assert "image_seed_rule" not in spec.to_json()  # earlier specs keep their digests


def _firsts(rows) -> list[np.ndarray]:
    """Each distinct row once, in order of first appearance."""
    out: list[np.ndarray] = []
    for row in rows:
        if not any(np.array_equal(row, seen) for seen in out):
            out.append(row)
    return out


def test_seeding_from_a_range_of_another_searchs_generations(tmp_path):
    """As the paper's PixArt-Σ search from PixArt-α's generations 125-200: the union of the
    other search's fronts in those generations, each genome once, in generation order."""
    from ecad.search.session import prepare_search
    from ecad.store import FilesystemStore
    from tests.search.known_scores import pruning_spec, run_known

    for part in "abc":
        (tmp_path / part).mkdir()
    store = FilesystemStore(tmp_path / "store")
    source, _ = run_known(store, pruning_spec(tmp_path / "a", pruning=False))
    fronts = [[m.schedule.genome() for m in source.fronts_between(g, g)] for g in range(2, 5)]
    union = _firsts(row for front in fronts for row in front)
    assert len(union) > max(len(f) for f in fronts), "the range adds members a front lacks"
    assert [m.schedule.genome().tolist() for m in source.fronts_between(5, 5)] == [
        m.schedule.genome().tolist() for m in source.front()
    ]

    def transfer(generations, population=None, **extra):
        initial = {"from_search": source.search_id, "generations": generations, **extra}
        spec = pruning_spec(
            tmp_path / "b",
            pruning=False,
            population=population or len(union),
            initial_population=initial,
        )
        return spec, prepare_search(spec, lambda: store)[1]

    spec, X = transfer([2, 4])
    assert spec.initial_population.generations == (2, 4)
    assert spec.initial_population.to_json()["generations"] == [2, 4]
    np.testing.assert_array_equal(_firsts(X), union)
    _, latest = transfer(None, population=len(fronts[-1]) + len(union))
    assert len(latest) == len(source.front())  # without a range: the latest front only
    with pytest.raises(ConfigError, match=r"has generations 0-5; initial_population.generations"):
        transfer([2, 6])
    with pytest.raises(ConfigError, match=f"{len(union)} distinct seed schedules"):
        transfer([2, 4], population=len(union) - 1)
    truncated, seeds = transfer([2, 4], population=len(union) - 1, truncate=True)
    kept = Nsga2(seeds.shape[1], truncated, seeds).algorithm.initialization.sampling
    np.testing.assert_array_equal(np.asarray(kept, bool), union[:-1])
    for bad in ([4, 2], [-1, 3], [2], "2-4", [2.0, 4]):
        with pytest.raises(ConfigError, match=r"initial_population\.generations: must be"):
            transfer(bad)
    with pytest.raises(ConfigError, match="generations: applies to from_search only"):
        initial = {"paper": True, "generations": [1, 2]}
        pruning_spec(tmp_path / "c", False, initial_population=initial)
