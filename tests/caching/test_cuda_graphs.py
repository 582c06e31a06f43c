"""The host side of a replay: the call flattened fast, inputs copied only when they changed."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch.utils import _pytree as pytree

from ecad.caching.cuda_graphs import CapturedGraph, call_signature, flatten_call


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
