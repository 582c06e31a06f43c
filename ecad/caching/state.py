"""Per-call state of a schedule applied to a transformer: which step and branch is running."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.hooks.hooks import BaseState, StateManager

from ecad.errors import ScheduleMismatchError

__all__ = ["CacheLedger", "CallState", "ContextProbe", "in_graph", "nbytes"]

DEFAULT_BRANCH = "default"


class ContextProbe(StateManager):
    """Receives diffusers' ``cache_context`` (e.g. ``"cond"``/``"uncond"`` in FLUX true-CFG), so
    each guidance branch keeps its own caches. Pipelines that batch both halves (PixArt) set no
    context; they run as one branch."""

    def __init__(self) -> None:
        super().__init__(BaseState)

    @property
    def branch(self) -> str:
        return self._context.name if self._context is not None else DEFAULT_BRANCH

    def reset(self, *args: Any, **kwargs: Any) -> None:
        self._context = None


def in_graph() -> bool:
    """Inside a graph being traced (``torch.compile``) or captured (CUDA graph): no reading of
    tensor values on the host there."""
    if torch.compiler.is_compiling():
        return True
    return torch.cuda.is_initialized() and torch.cuda.is_current_stream_capturing()


def nbytes(value: Any) -> int:
    """Bytes held by a tensor or a (nested) tuple/list of tensors."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    return 0


class CacheLedger:
    """Bytes held in the caches of one applied schedule, now and at the peak of the last call.

    Inside a graph that ``torch.compile`` traces, counting would make the graph guard on the
    running total (a new value every step, so a recompilation every step); there it only marks
    itself stale and the step tracker, outside the graph, recounts with :meth:`observe`.
    """

    def __init__(self) -> None:
        self.bytes = 0
        self.peak = 0
        self.stale = False

    def add(self, n: int) -> None:
        if torch.compiler.is_compiling():
            self.stale = True
            return
        self.bytes += n
        self.peak = max(self.peak, self.bytes)

    def sub(self, n: int) -> None:
        if torch.compiler.is_compiling():
            self.stale = True
            return
        self.bytes -= n

    def observe(self, held: int) -> None:
        """The bytes held now, counted from the caches themselves."""
        self.bytes = held
        self.peak = max(self.peak, held)
        self.stale = False


class CallState:
    """Tracks the denoising step of the current pipeline call.

    With a sampler (a pipeline was given) the step is the sampler's own ``step_index``, so it
    follows the sampler for direct ``pipe(...)`` calls; a ``None`` index means a new denoising
    loop has begun. Without one (a bare transformer), forward calls of each branch are counted.

    **Schedule row = sampler step.** A pipeline that starts part-way (img2img and inpainting
    with ``strength`` s < 1 over N steps) runs only the sampler's last steps, from its
    ``begin_index`` k = int(N - s N) on; sampler step t runs schedule row t, so each row runs
    at the noise level it was learned for. The first step of a call, row k, is entered with
    nothing cached: every component runs there (the hooks' *entry* row ``steps + k``), and it
    keeps what row k keeps.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        #: What the hooks read: the first step of this step's *pattern* (see
        #: :mod:`ecad.caching.compiled`), so that a compiled graph depends on the pattern only.
        self.step = 0
        #: The denoising step actually running.
        self.true_step = 0
        self.branch = DEFAULT_BRANCH
        #: Rows ``steps + k``: the entry into row ``k`` of a call that starts there.
        self.pattern_of: tuple[int, ...] = tuple(range(2 * steps))
        #: Static cache buffers while CUDA graphs are in use (``hold(key, value) -> buffer``).
        self.static: Any | None = None
        #: Compiles lean blocks one graph per block pattern (``compile_scope="blocks"``).
        self.regional: Any | None = None
        #: The steps this transformer runs, if not all (an expert of a two-expert pipeline).
        self.runs: tuple[int, ...] | None = None
        self._calls: dict[str, int] = {}
        # Calls of each branch in the current sampler step: pipelines that run guidance as two
        # transformer calls per step without a cache context (Chroma, Lumina 2) get one branch
        # per call ("default", "default#1"), so each keeps its own caches.
        self._in_step: dict[str, int] = {}
        self._step_seen = -1
        self._listeners: list[Any] = []
        self.ledger = CacheLedger()
        #: The schedule row the current (or last) call started at, and the sampler steps it ran.
        self.start = 0
        self.steps_run = 0
        #: Why this schedule cannot start part-way, if it cannot (true TGATE).
        self.refuse_partial: str | None = None
        self._loop: Any = None  # the sampler's timesteps of the current call
        #: Puts back the caches' Python side as the last replayed CUDA graph left it; run
        #: only when something reads that side (:meth:`settle`), not after every replay.
        self._unsettled: Any = None

    def add_listener(self, hook: Any) -> None:
        """``hook.drop_caches()`` is called whenever the caches must be emptied; the hook gets
        ``cache_id``, the first part of the keys of what it holds (:meth:`hold`)."""
        hook.cache_id = len(self._listeners)
        self._listeners.append(hook)

    @property
    def listeners(self) -> tuple[Any, ...]:
        return tuple(self._listeners)

    def hold(self, key: tuple, value: Any) -> Any:
        """Keep ``value`` as cache entry ``key``; returns what to keep (under CUDA graphs a static
        buffer with ``value`` copied into it, so every graph reads the entry at one address)."""
        if self.static is not None:
            value = self.static.hold(key, value)
        self.ledger.add(nbytes(value))
        return value

    def release(self, value: Any) -> None:
        """A kept entry is dropped."""
        self.ledger.sub(nbytes(value))

    def held_bytes(self) -> int:
        self.settle()
        return sum(hook.cached_bytes() for hook in self._listeners)

    def defer_restore(self, restore: Any) -> None:
        """A CUDA graph replayed: the hooks' caches (Python side) are ``restore()`` away."""
        self._unsettled = restore

    def settle(self) -> None:
        """Bring the hooks' caches up to date before anything reads or changes them."""
        if self._unsettled is not None:
            restore, self._unsettled = self._unsettled, None
            restore()

    def begin_forward(self, sampler: Any | None, branch: str) -> None:
        if sampler is not None and hasattr(sampler, "step_index"):
            step, branch = self._sampler_step(sampler, branch)
        else:
            step = self._calls.get(branch, 0)
            if step >= self.steps:  # a new denoising loop on a bare transformer
                step = 0
            self._calls[branch] = step + 1
            if step == 0:
                self.start, self.steps_run = 0, 0
            self.steps_run = max(self.steps_run, step + 1)
        if step >= self.steps:
            raise ScheduleMismatchError(
                f"denoising step {step} is past the schedule's {self.steps} steps; call with "
                f"num_inference_steps={self.steps}"
            )
        if step == self.start and self.ledger.bytes == 0:  # a new call: its peak starts now
            self.ledger.peak = 0
        self.true_step = step
        entered = step == self.start and step > 0  # nothing cached: the entry row
        self.step = self.pattern_of[self.steps + step if entered else step]
        self.branch = branch

    def _sampler_step(self, sampler: Any, branch: str) -> tuple[int, str]:
        """The sampler step running (= the schedule row) and this call's branch name."""
        index = sampler.step_index
        if index is None:  # sampler not stepped yet: first step of a new call
            start = self._start_of(sampler)
            # set_timesteps makes a new tensor per call: the other branches of the first step
            # see the same one (their caches stay), a new call another.
            loop = getattr(sampler, "timesteps", None)
            new_call = self.true_step != start if loop is None else loop is not self._loop
            self._loop = loop
            if new_call:
                self.drop_caches()
                self._in_step.clear()
                self._step_seen = -1
                self.start, self.steps_run = start, 0
            index = start
        step = int(index)
        if step != self._step_seen:
            if self._step_seen >= 0 and step > self._step_seen + 1:
                raise ScheduleMismatchError(
                    f"the sampler went from step {self._step_seen} to step {step} without "
                    "calling the transformer in between; a pipeline that starts part-way must "
                    "tell its sampler where (sampler.set_begin_index), so that schedule rows "
                    "follow sampler steps"
                )
            self._in_step.clear()
            self._step_seen = step
            self.steps_run += 1
        nth = self._in_step.get(branch, 0)
        self._in_step[branch] = nth + 1
        return step, (f"{branch}#{nth}" if nth else branch)

    def _start_of(self, sampler: Any) -> int:
        """The sampler step a new call starts at: its ``begin_index`` (img2img and inpainting
        pipelines set it from ``strength``), else 0; the step count must match the schedule."""
        timesteps = getattr(sampler, "timesteps", None)
        if timesteps is not None and len(timesteps) != self.steps:
            raise ScheduleMismatchError(
                f"schedule has {self.steps} steps but the sampler runs {len(timesteps)};"
                f" call the pipeline with num_inference_steps={self.steps} or use a "
                f"schedule made for {len(timesteps)} steps (with strength < 1, "
                "num_inference_steps still counts all steps: the pipeline runs the last ones)"
            )
        begin = getattr(sampler, "begin_index", None)
        start = 0 if begin is None else int(begin)
        if not 0 <= start < self.steps:
            raise ScheduleMismatchError(
                f"the sampler starts at step {start}, outside the schedule's {self.steps} steps"
            )
        if start > 0 and self.refuse_partial is not None:
            raise ScheduleMismatchError(
                f"the pipeline starts at sampler step {start} (strength < 1), but "
                f"{self.refuse_partial}; run it with strength=1.0 or use another schedule"
            )
        return start

    def drop_caches(self) -> None:
        self.settle()
        for hook in self._listeners:
            hook.drop_caches()

    def reset(self) -> None:
        """Between calls (diffusers resets stateful hooks at a call's end) and after a failure;
        ``start`` and ``steps_run`` keep describing the last call."""
        self.step = self.true_step = 0
        self.branch = DEFAULT_BRANCH
        self._calls.clear()
        self._in_step.clear()
        self._step_seen = -1
        self._loop = None
        self.drop_caches()
