import pytest
import torch

from ecad.errors import ConfigError, ScheduleMismatchError
from ecad.families import get_family
from ecad.families.loading import load_pipeline
from ecad.generation import GenerationSettings, PromptEmbeddings, embed_prompts, generate_images
from ecad.generation.seeds import image_seed
from ecad.schedules import ScheduleLayout
from ecad.schedules.heuristics import fora
from tests.conftest import FAMILY_NAMES

PROMPTS = ["a red cube", "two cats on a sofa", "the word ECAD in neon"]


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def loaded(request, tiny_dirs, tmp_path_factory):
    family = get_family(request.param)
    weights = str(tiny_dirs[request.param])
    encoder = load_pipeline(family, weights, denoiser=False)
    path = tmp_path_factory.mktemp("emb") / "e.safetensors"
    embed_prompts(encoder, family, PROMPTS, weights).save(path)
    return (
        family,
        load_pipeline(family, weights, text_encoders=False),
        PromptEmbeddings.load(path, family),
    )


def _settings(family, **kw):
    base = dict(
        height=64,
        width=64,
        steps=4,
        guidance=family.default_guidance,
        num_images_per_prompt=2,
        batch_size=4,
        output_type="pt",
    )
    base.update(kw)
    return GenerationSettings(**base)


def test_seeds_independent_of_batch_and_order(loaded):
    family, pipe, emb = loaded
    a = {
        (g.prompt_index, g.image_index): g.image
        for g in generate_images(pipe, family, emb, _settings(family))
    }
    assert len(a) == 6
    order = [(2, 1), (0, 0), (1, 1)]
    b = {
        (g.prompt_index, g.image_index): g.image
        for g in generate_images(pipe, family, emb, _settings(family, batch_size=1), pairs=order)
    }
    for key in order:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=0)
    assert not torch.allclose(a[(0, 0)], a[(0, 1)])  # different seeds per image index
    assert image_seed(0, 1, 2) == image_seed(0, 1, 2) != image_seed(0, 2, 1)


def test_embeddings_match_prompt_path(loaded, tiny_dirs):
    family, pipe, emb = loaded
    full = load_pipeline(family, str(tiny_dirs[family.name]))
    settings = _settings(family, num_images_per_prompt=1)
    from_emb = next(iter(generate_images(pipe, family, emb, settings, pairs=[(1, 0)]))).image
    from ecad.generation.adapters import adapter_for
    from ecad.generation.seeds import image_generator

    adapter = adapter_for(family)
    latents = adapter.latents(full, [image_generator(0, 1, 0)], 64, 64)
    kwargs = dict(
        prompt=PROMPTS[1],
        latents=latents,
        num_inference_steps=4,
        height=64,
        width=64,
        guidance_scale=family.default_guidance,
        output_type="pt",
    )
    if family.kind == "pixart":
        kwargs.update(use_resolution_binning=False, clean_caption=False)
    direct = full(**kwargs).images[0]
    torch.testing.assert_close(from_emb, direct, atol=1e-5, rtol=0)


def test_schedule_applied_for_the_run_only(loaded):
    family, pipe, emb = loaded
    schedule = fora(ScheduleLayout.for_model(family, pipe.transformer), 4, 2)
    settings = _settings(family, num_images_per_prompt=1)
    plain = [g.image for g in generate_images(pipe, family, emb, settings)]
    cached = [g.image for g in generate_images(pipe, family, emb, settings, schedule)]
    assert not torch.equal(plain[0], cached[0])
    again = [g.image for g in generate_images(pipe, family, emb, settings)]
    assert all(torch.equal(x, y) for x, y in zip(plain, again))
    with pytest.raises(ScheduleMismatchError, match="4 steps"):
        next(iter(generate_images(pipe, family, emb, _settings(family, steps=5), schedule)))


def test_bad_settings(loaded, tmp_path):
    family, pipe, emb = loaded
    with pytest.raises(ConfigError, match="multiple of 16"):
        next(iter(generate_images(pipe, family, emb, _settings(family, height=60))))
    with pytest.raises(ConfigError, match="out of range"):
        next(iter(generate_images(pipe, family, emb, _settings(family), pairs=[(9, 0)])))
    (tmp_path / "x.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="not a readable embeddings file"):
        PromptEmbeddings.load(tmp_path / "x.safetensors")


def test_pil_output_equals_diffusers_own_conversion(loaded):
    family, pipe, emb = loaded
    pil = _settings(family, output_type="pil")
    ours = [g.image for g in generate_images(pipe, family, emb, pil)]
    tensors = [g.image for g in generate_images(pipe, family, emb, _settings(family))]
    processor = pipe.image_processor  # postprocess(output_type="pil") after denormalizing
    theirs = processor.numpy_to_pil(processor.pt_to_numpy(torch.stack(tensors)))
    assert [im.mode for im in ours] == ["RGB"] * 6
    for a, b in zip(ours, theirs, strict=True):
        assert a.tobytes() == b.tobytes()


def test_rows_gather_on_the_device_equal_host_rows(loaded):
    _, _, emb = loaded
    rows = emb.rows([2, 0, 2], "cpu", torch.float16)
    for name, t in emb.tensors.items():
        expected = t[[2, 0, 2]]
        expected = expected.half() if expected.is_floating_point() else expected
        assert torch.equal(rows[name], expected), name
    assert emb.placed("cpu", torch.float16) is emb.placed("cpu", torch.float16)


@pytest.mark.parametrize(
    "loaded", [n for n in FAMILY_NAMES if get_family(n).kind == "pixart"], indirect=True
)  # true TGATE is a PixArt (cross-attention) baseline
def test_true_tgate_schedule_generates_like_any_schedule(loaded):
    """The paper's TGATE baseline (guidance dropped after the gate) through generate_images:
    an image does not depend on its batch, and differs from the uncached one."""
    from ecad.schedules.catalog import HeuristicCall

    family, pipe, emb = loaded
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedule = HeuristicCall.of("tgate", m=2, k=1).build(layout, 4)
    one = _settings(family, num_images_per_prompt=1, batch_size=1)
    three = _settings(family, num_images_per_prompt=1, batch_size=3)
    alone = [g.image for g in generate_images(pipe, family, emb, one, schedule)]
    batched = [g.image for g in generate_images(pipe, family, emb, three, schedule)]
    plain = [g.image for g in generate_images(pipe, family, emb, three)]
    for a, b, p in zip(alone, batched, plain):
        assert torch.isfinite(a).all() and (a - b).abs().max() < 1e-4
        assert not torch.equal(a, p)


def test_reference_seed_rule_is_the_pipelines_own_generator_per_image_index(loaded):
    """``seed_rule="reference"``: image i of prompt p is what the pipeline gives prompt p when
    called on every prompt at once with ``torch.Generator().manual_seed(i)`` (the reference's
    rule), whatever the batch the image runs in here."""
    from ecad.generation.adapters import adapter_for

    family, pipe, emb = loaded
    settings = _settings(family, seed_rule="reference", batch_size=2)
    ours = {
        (g.prompt_index, g.image_index): g for g in generate_images(pipe, family, emb, settings)
    }
    adapter = adapter_for(family)
    for i in range(2):
        direct = pipe(
            **adapter.call_kwargs(emb.rows(range(len(PROMPTS)), "cpu", torch.float32)),
            generator=torch.Generator().manual_seed(i),
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            height=64,
            width=64,
            output_type="pt",
        ).images
        for p in range(len(PROMPTS)):
            torch.testing.assert_close(ours[(p, i)].image, direct[p], atol=1e-5, rtol=0)
            assert ours[(p, i)].seed == i
    with pytest.raises(ConfigError, match="seed_rule"):
        next(iter(generate_images(pipe, family, emb, _settings(family, seed_rule="numpy"))))
