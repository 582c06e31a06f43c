"""The host side of a replay: the call flattened fast, inputs copied only when they changed;
the static buffers of the caches: the first writer's own tensors, filled after its capture."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch.utils import _pytree as pytree

from ecad.caching.cuda_graphs import CapturedGraph, StaticCaches, call_signature, flatten_call

KEY = (0, "batched", "attn1")


def _call():
    latents, prompt = torch.randn(2, 4), torch.randn(2, 3)
    kwargs = {
        "encoder_hidden_states": prompt,
        "added_cond_kwargs": {"resolution": None, "aspect_ratio": None},
        "timestep": torch.tensor([1.0, 1.0]),
        "return_dict": False,
        "ids": [torch.zeros(1), (torch.ones(1), 3)],
    }
    return (latents,), kwargs


def test_a_plain_call_flattens_as_pytree_does():
    args, kwargs = _call()
    leaves, spec = flatten_call(args, kwargs)
    assert [id(x) for x in leaves] == [id(x) for x in pytree.tree_leaves((args, kwargs))]
    again_leaves, again_spec = flatten_call(*_call())
    assert call_signature(leaves, spec) == call_signature(again_leaves, again_spec)
    other = _call()
    other[1]["return_dict"] = True  # another value of a non-tensor argument
    assert call_signature(leaves, spec) != call_signature(*flatten_call(*other))


def test_other_containers_go_through_pytree():
    args, kwargs = _call()
    kwargs["extra"] = OrderedDict(scale=torch.ones(2))  # a dict subclass holding a tensor
    leaves, _ = flatten_call(args, kwargs)
    assert [id(x) for x in leaves] == [id(x) for x in pytree.tree_leaves((args, kwargs))]
    assert any(x is kwargs["extra"]["scale"] for x in leaves)


def _graph(n: int, written: list[bool]) -> CapturedGraph:
    inputs = [torch.zeros(3) for _ in range(n)]
    return CapturedGraph(None, inputs, None, [], 0, written)


def test_an_unchanged_input_is_not_copied_again():
    graph = _graph(2, [False, False])
    prompt, latents = torch.ones(3), torch.full((3,), 2.0)
    graph.load([prompt, latents])
    graph.inputs[0].fill_(-1)  # were it copied again, the buffer would be 1 again
    latents = torch.full((3,), 5.0)  # a new tensor every step
    graph.load([prompt, latents])
    assert graph.inputs[0].tolist() == [-1] * 3 and graph.inputs[1].tolist() == [5] * 3
    prompt.add_(1)  # changed in place: its version moved
    graph.load([prompt, latents])
    assert graph.inputs[0].tolist() == [2] * 3


def test_an_input_the_graph_writes_is_always_copied():
    graph = _graph(1, [True])
    source = torch.ones(3)
    graph.load([source])
    graph.inputs[0].fill_(-1)  # what a replay that writes its input would leave
    graph.load([source])
    assert graph.inputs[0].tolist() == [1] * 3


def test_inference_tensors_keep_no_version_and_are_always_copied():
    graph = _graph(1, [False])
    with torch.inference_mode():
        source = torch.ones(3)
    graph.load([source])
    graph.inputs[0].fill_(-1)
    graph.load([source])  # no version counter to trust: copied again
    assert graph.inputs[0].tolist() == [1] * 3


def test_the_first_writers_capture_owns_the_buffer_and_gets_the_value_run_before():
    caches = StaticCaches(adopt=True)
    with caches.before_capture():  # the eager run and the warm run: values kept aside
        eager = torch.ones(3)
        assert caches.hold(KEY, eager) is eager
        warm = torch.full((3,), 2.0)
        assert caches.hold(KEY, warm) is warm
    assert not caches.buffers
    with caches.capturing():
        captured = torch.full((3,), float("nan"))  # a capture computes nothing
        assert caches.hold(KEY, captured) is captured  # no copy in the graph
    assert caches.buffers[KEY] is captured
    torch.testing.assert_close(captured, warm)  # filled once the capture is over
    later = torch.full((3,), 5.0)  # another writer: copies into the buffer
    assert caches.hold(KEY, later) is captured
    torch.testing.assert_close(captured, later)
    assert caches.nbytes() == 3 * 4
    # the next graph on the pool adopts nothing: an entry it stores first gets a buffer of its
    # own before its capture (a tensor it kept could lie in the first graph's scratch memory)
    assert not caches.adopting
    _a_buffer_is_made_before_the_capture(caches, (1, "batched", "ff"))


def _a_buffer_is_made_before_the_capture(caches: StaticCaches, key: tuple) -> None:
    with caches.before_capture():
        value = torch.ones(3)
        buffer = caches.hold(key, value)
    assert buffer is not value and caches.buffers[key] is buffer
    with caches.capturing():
        assert caches.hold(key, torch.zeros(3)) is buffer  # copied in the graph
    torch.testing.assert_close(buffer, torch.zeros(3))


def test_without_adoption_the_first_store_makes_the_buffer():
    # the hooks traced into the graph (transformer scope): buffers exist before it
    _a_buffer_is_made_before_the_capture(StaticCaches(adopt=False), KEY)


def test_an_entry_only_the_capture_stored_is_a_bug():
    caches = StaticCaches(adopt=True)
    with pytest.raises(RuntimeError, match="first stored in a capture only"), caches.capturing():
        caches.hold(KEY, torch.ones(3))
    assert not caches.buffers and caches.adopting  # no graph was made: the next one adopts


def test_a_failed_run_or_capture_leaves_nothing_behind():
    caches = StaticCaches(adopt=True)
    with pytest.raises(ValueError), caches.before_capture():
        caches.inputs([torch.ones(2)])
        caches.hold(KEY, torch.ones(3))
        raise ValueError("the warm run failed")
    assert not caches._pending and not caches._inputs
    with caches.before_capture():
        caches.hold(KEY, torch.ones(3))
    with pytest.raises(ValueError), caches.capturing():
        caches.hold(KEY, torch.ones(3))
        raise ValueError("the capture failed")
    assert not caches.buffers and caches.adopting and not caches._pending


def test_a_value_that_is_an_input_of_the_captured_call_is_not_adopted():
    caches = StaticCaches(adopt=True)
    stream = torch.ones(2, 3)
    with caches.before_capture():
        caches.inputs([stream])
        buffer = caches.hold(KEY, stream[0])  # a view of an input: the next call overwrites it
    assert buffer is not stream and caches.buffers[KEY] is buffer
    with caches.capturing():
        assert caches.hold(KEY, stream[0]) is buffer  # copied in the graph, as before
