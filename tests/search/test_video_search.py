"""Videos end to end on the tiny Wan 2.1: a one-generation search with fidelity (one MP4 object
per video in the store, scores per frame averaged per video), the spec's video fields, and the
cost at the spec's frames."""

from __future__ import annotations

import numpy as np
import pytest

from ecad.errors import ConfigError
from ecad.search import load_spec, run_search
from ecad.search.setting import EvaluationSetting
from ecad.store import FilesystemStore
from ecad.store.keys import image_key
from ecad.videofile import decode_video
from tests.search.conftest import write_spec

VIDEO = {"family": "wan2.1-t2v-1.3b", "resolution": 32, "width": 48, "frames": 5, "fps": 8}


def test_a_video_search_runs_one_generation_with_fidelity(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            name="tiny-wan",
            steps=3,
            population=2,
            generations=1,
            min_diff=1,
            prompts={"file": write_prompts(tmp_path), "limit": 2},
            shard_size=2,
            **VIDEO,
        )
    )
    assert (spec.video.frames, spec.video.fps, spec.video.width) == (5, 8, 48)
    store = FilesystemStore(tmp_path / "store")
    session = run_search(store, spec, progress=lambda _: None)
    assert session.phase == "done" and len(session.front()) >= 1
    assert session.table.frames == 5 and session.table.width == 48
    setting = EvaluationSetting.from_spec(spec)
    uncached = session.plan.reference.generation_key
    videos = [decode_video(store.get(image_key(uncached, p, 0, video=True))) for p in (0, 1)]
    assert all(v.shape == (5, 32, 48, 3) and v.dtype == np.uint8 for v in videos)
    assert not np.array_equal(videos[0], videos[1])
    assert setting.generation_key(session.plan.reference.schedule) == uncached
    for member in session.front():  # PSNR: per frame, averaged per video, then over videos
        assert 10 < member.quality <= 100


def test_a_two_expert_search_switches_experts_inside_each_candidate(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            name="tiny-wan22",
            family="wan2.2-t2v-a14b",
            resolution=32,
            width=32,
            frames=5,
            fps=8,
            steps=7,
            population=2,
            generations=1,
            min_diff=1,
            prompts={"file": write_prompts(tmp_path), "limit": 1},
            shard_size=1,
            quality={"scorer": "fidelity", "metric": "ssim"},
        )
    )
    session = run_search(FilesystemStore(tmp_path / "store"), spec, progress=lambda _: None)
    assert session.phase == "done" and session.layout.expert_of_steps(7) == (0,) * 5 + (1,) * 2
    for member in session.front():  # the low-noise expert's first step is always computed
        assert member.schedule.effective()[5].all()
        assert 0 < member.quality <= 1


def write_prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("a red cube spinning\ntwo cats on a sofa\n")
    return str(path)


def test_video_fields_default_from_the_family_and_are_refused_for_images(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path,
            name="d",
            family="wan2.1-t2v-1.3b",
            weights="tiny",
            resolution=480,
            steps=3,
            population=2,
            generations=1,
        )
    )
    assert (spec.video.frames, spec.video.fps, spec.video.width) == (81, 16, 832)
    image = load_spec(write_spec(tmp_path, name="i"))
    assert image.video.frames == 0 and "frames" not in image.to_json()
    with pytest.raises(ConfigError) as err:
        load_spec(write_spec(tmp_path, name="bad", frames=8))
    assert "frames: pixart-alpha makes images" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_spec(
            write_spec(
                tmp_path, name="bad2", family="wan2.1-t2v-1.3b", resolution=32, frames=8, width=40
            )
        )
    assert "frames: 8 must be 4k + 1" in str(err.value) and "width: 40 must be a multiple" in str(
        err.value
    )


def test_wan22_low_noise_guidance_defaults_to_the_model_card_and_is_refused_elsewhere(tmp_path):
    wan22 = dict(family="wan2.2-t2v-a14b", resolution=32, width=32, frames=5, fps=8, steps=7)
    spec = load_spec(write_spec(tmp_path, name="w", **wan22))
    assert (spec.guidance, spec.guidance_2) == (4.0, 3.0)  # guidance_scale / guidance_scale_2
    assert EvaluationSetting.from_spec(spec).guidance_2 == 3.0
    other = load_spec(write_spec(tmp_path, name="w2", guidance_2=5, **wan22))
    assert other.guidance_2 == 5.0 and other.digest() != spec.digest()
    setting, other_setting = EvaluationSetting.from_spec(spec), EvaluationSetting.from_spec(other)
    schedule = session_free_schedule(spec)
    assert setting.generation_key(schedule) != other_setting.generation_key(schedule)
    assert type(spec).from_json(spec.to_json()).digest() == spec.digest()  # stored, read back
    image = load_spec(write_spec(tmp_path, name="i"))
    assert image.guidance_2 is None and "guidance_2" not in image.to_json()
    with pytest.raises(ConfigError) as err:
        load_spec(write_spec(tmp_path, name="bad", guidance_2=3.0))
    assert "guidance_2: only two-expert families" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_spec(write_spec(tmp_path, name="bad2", guidance_2=-1, **wan22))
    assert "guidance_2: must be a number" in str(err.value)


def session_free_schedule(spec):
    from ecad.schedules.heuristics import no_cache
    from ecad.search.setting import layout_for

    return no_cache(layout_for(spec), spec.steps)
