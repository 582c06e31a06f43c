import pytest
import torch

from ecad.search.streams import GpuStreams


def test_off_cuda_or_disabled_the_contexts_do_nothing():
    for streams in (GpuStreams("cpu", True), GpuStreams("cuda:0", False)):
        assert not streams.enabled
        with streams.generating(), streams.scoring():
            assert torch.ones(2).sum().item() == 2


class FakeStream:
    def __init__(self, name, log, priority=0):
        self.name, self.log, self.priority = name, log, priority

    def wait_stream(self, other):
        self.log.append((self.name, "waits for", other.name))


def test_each_role_waits_for_queued_work_and_is_waited_for(monkeypatch):
    log = []
    outer = FakeStream("default", log)
    made = []

    def stream(device, priority=0):
        made.append(FakeStream(f"s{len(made)}", log, priority))
        return made[-1]

    class Use:
        def __init__(self, s):
            self.s = s

        def __enter__(self):
            log.append(("enter", self.s.name))

        def __exit__(self, *exc):
            log.append(("exit", self.s.name))

    monkeypatch.setattr(torch.cuda, "Stream", stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: outer)
    monkeypatch.setattr(torch.cuda, "stream", Use)
    streams = GpuStreams("cuda:1", True)
    with streams.generating():
        log.append("generate")
    with streams.scoring(), streams.generating():
        log.append("both")
    with streams.generating():
        pass
    assert [s.priority for s in made] == [-1, 0]  # one stream per role, generation first
    assert log[:5] == [("s0", "waits for", "default"), ("enter", "s0"), "generate",
                       ("exit", "s0"), ("default", "waits for", "s0")]
    assert len(made) == 2  # reused, not one per use


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_results_on_streams_equal_the_default_stream():
    a = torch.randn(512, 512, device="cuda")
    expected = (a @ a).cpu()
    streams = GpuStreams("cuda", True)
    with streams.generating():
        got = (a @ a).cpu()
    with streams.scoring():
        also = (a @ a).cpu()
    assert torch.equal(got, expected) and torch.equal(also, expected)
