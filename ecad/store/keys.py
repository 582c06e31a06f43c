"""The store's keys: every key a search, a worker or the CLI reads or writes.

This module is the store's contract (torch-free, no I/O): keys are built and parsed here and
nowhere else. Layout::

    searches/<id>/spec.json                  the resolved spec (versioned JSON)
    searches/<id>/cost_table.json            the cost model of the cost objective
    searches/<id>/state.json                 phase, generation, NSGA-II snapshot, pending genomes;
                                             the commit point, written last
    searches/<id>/initial.json               seed genomes of generation 0 (if not random)
    searches/<id>/cancelled.json             cancel marker (never races the state's writer)
    searches/<id>/failed.json                failure marker: an authoritative object of the
                                             search is unreadable (the reason); written apart
                                             from state.json, which may be the broken object
    searches/<id>/progress.json              the running generation's shard counts and timing
    searches/<id>/generations/NNNN.json      one record per finished generation
    searches/<id>/pruning/NNNN.json          a generation's pruning decisions (partial candidates;
                                             search-specific: they depend on this search's front)
    searches/<id>/preselection/NNNN.json     a generation's pre-selection: offspring proposed,
                                             predictions (never measurements), the choice, and
                                             once evaluated the predictor's rank correlation
    searches/<id>/pruned/<evaluation key>.json  a candidate stopped in the running generation:
                                             workers skip its queued shards
    searches/<id>/planned/NNNN.json          what the store held when the running generation
                                             was planned (cached evaluations, stored shards):
                                             a restarted driver counts against it, not against
                                             the work its predecessor did; deleted at the end

    schedules/<schedule digest>.json         a candidate in the published format (for humans and
                                             export; written once per candidate, never read by
                                             workers)
    embeddings/<embeddings key>.safetensors  prompt embeddings, per model and prompt set
    images/<generation key>/pNNNNN_iNNN.png  a candidate's images (content-addressed)
    images/<generation key>/pNNNNN_iNNN.mp4  video families: one video, one MP4 object (H.264
                                             RGB, lossless: scoring reads the exact frames)
    images/<generation key>/shard-<L>-NNNN.json  marker: that shard's images are all stored
    scores/<evaluation key>/shard-<L>-NNNN.json  per-image scores of one shard
    evaluations/<evaluation key>.json        the aggregate of the scores (mean quality, per prompt)

    store.json                               the store's identity (a random id, written once);
                                             tasks carry it, workers on another store refuse them
    probes/<time>-<nonce>.json               written by the scheduler while it sends tasks
                                             (renewed each minute); tasks carry the latest: a
                                             worker not seeing it is on a copy of the store
    attempts/<task key>.json                 how often a shard task started, and where
    failures/<task key>.json                 a shard task given up on (the candidate fails)

``<L>`` is the sharding id (:func:`sharding_id`: how the prompts x image seeds are cut
into shards, e.g. ``p8`` prompt-major shards of 8, ``s4`` stratified shards of 4). Shard ``NNNN``
means different images in different shardings, so every per-shard key records its sharding and
two searches over the same images with different shardings never read each other's shard files
(images and evaluations are per image / per candidate and shared by all shardings).

A task key names one shard of work: ``images-<generation key>-<L>-NNNN`` (images only: the
reference images a fidelity scorer compares with) or ``shard-<evaluation key>-<L>-NNNN`` (a
candidate's images and their scores).
"""

from __future__ import annotations

import re

__all__ = [
    "IMAGES_TASK",
    "PROBES",
    "SHARD_TASK",
    "attempts_key",
    "cancelled_key",
    "cost_table_key",
    "embeddings_key",
    "evaluation_record_key",
    "failed_key",
    "failure_key",
    "failure_task",
    "generation_record_key",
    "generations_prefix",
    "image_filename",
    "image_key",
    "initial_key",
    "parse_task_key",
    "planned_key",
    "preselection_record_key",
    "probe_key",
    "progress_key",
    "pruned_marker_key",
    "pruned_prefix",
    "pruning_record_key",
    "schedule_key",
    "score_key",
    "search_id_of",
    "shard_marker_key",
    "sharding_id",
    "spec_key",
    "state_key",
    "store_identity_key",
    "task_key",
    "task_output_key",
]

SEARCHES = "searches/"
PROBES = "probes/"
FAILURES = "failures/"
IMAGES_TASK = "images"
SHARD_TASK = "shard"
_TASK = re.compile(r"^(images|shard)-([0-9a-f]{32})-([ps]\d+)-(\d{4,})\Z")
_SHARDING = re.compile(r"^[ps]\d+\Z")


# searches -----------------------------------------------------------------------------------
def _search(search_id: str, name: str) -> str:
    return f"{SEARCHES}{search_id}/{name}"


def spec_key(search_id: str) -> str:
    return _search(search_id, "spec.json")


def state_key(search_id: str) -> str:
    return _search(search_id, "state.json")


def cost_table_key(search_id: str) -> str:
    return _search(search_id, "cost_table.json")


def initial_key(search_id: str) -> str:
    return _search(search_id, "initial.json")


def cancelled_key(search_id: str) -> str:
    return _search(search_id, "cancelled.json")


def failed_key(search_id: str) -> str:
    return _search(search_id, "failed.json")


def progress_key(search_id: str) -> str:
    return _search(search_id, "progress.json")


def generations_prefix(search_id: str) -> str:
    return _search(search_id, "generations/")


def generation_record_key(search_id: str, generation: int) -> str:
    return f"{generations_prefix(search_id)}{generation:04d}.json"


def pruning_record_key(search_id: str, generation: int) -> str:
    return _search(search_id, f"pruning/{generation:04d}.json")


def preselection_record_key(search_id: str, generation: int) -> str:
    return _search(search_id, f"preselection/{generation:04d}.json")


def planned_key(search_id: str, generation: int) -> str:
    return _search(search_id, f"planned/{generation:04d}.json")


def pruned_prefix(search_id: str) -> str:
    return _search(search_id, "pruned/")


def pruned_marker_key(search_id: str, evaluation_key: str) -> str:
    return f"{pruned_prefix(search_id)}{evaluation_key}.json"


def search_id_of(key: str) -> str | None:
    """The search id of a ``searches/<id>/state.json`` key, else None."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == SEARCHES[:-1] and parts[2] == "state.json":
        return parts[1]
    return None


def store_identity_key() -> str:
    return "store.json"


def probe_key(probe: str) -> str:
    return f"{PROBES}{probe}.json"


# content-addressed outputs -------------------------------------------------------------------
def schedule_key(digest: str) -> str:
    return f"schedules/{digest}.json"


def embeddings_key(key: str) -> str:
    return f"embeddings/{key}.safetensors"


def image_filename(prompt: int, image: int) -> str:
    return f"p{prompt:05d}_i{image:03d}.png"


def image_key(generation_key: str, prompt: int, image: int, *, video: bool = False) -> str:
    """The key of one image, or with ``video`` of one video (``.mp4``)."""
    name = image_filename(prompt, image)
    if video:
        name = name.removesuffix(".png") + ".mp4"
    return f"images/{generation_key}/{name}"


def sharding_id(stratified: bool, shard_size: int) -> str:
    """``p<size>`` (prompt-major shards) or ``s<size>`` (stratified, see
    :mod:`ecad.search.stratified`); the prompts and image counts are in the content keys."""
    return f"{'s' if stratified else 'p'}{int(shard_size)}"


def _sharding(sharding: str) -> str:
    if not isinstance(sharding, str) or not _SHARDING.match(sharding):
        raise ValueError(f"sharding id must look like 'p8' or 's4', got {sharding!r}")
    return sharding


def shard_marker_key(generation_key: str, shard: int, *, sharding: str) -> str:
    return f"images/{generation_key}/shard-{_sharding(sharding)}-{shard:04d}.json"


def score_key(evaluation_key: str, shard: int, *, sharding: str) -> str:
    return f"scores/{evaluation_key}/shard-{_sharding(sharding)}-{shard:04d}.json"


def evaluation_record_key(evaluation_key: str) -> str:
    return f"evaluations/{evaluation_key}.json"


# shard tasks ----------------------------------------------------------------------------------
def task_key(kind: str, output_key: str, shard: int, *, sharding: str) -> str:
    """``images-<generation key>-<L>-NNNN`` or ``shard-<evaluation key>-<L>-NNNN``."""
    if kind not in (IMAGES_TASK, SHARD_TASK):
        raise ValueError(f"task kind must be {IMAGES_TASK!r} or {SHARD_TASK!r}, got {kind!r}")
    return f"{kind}-{output_key}-{_sharding(sharding)}-{shard:04d}"


def parse_task_key(key: str) -> tuple[str, str, str, int] | None:
    """``(kind, output key, sharding id, shard)`` of a task key, or None if it is not one."""
    m = _TASK.match(key)
    return (m.group(1), m.group(2), m.group(3), int(m.group(4))) if m else None


def task_output_key(key: str) -> str:
    """The store key whose existence means the task finished."""
    parsed = parse_task_key(key)
    if parsed is None:
        raise ValueError(f"not a task key: {key!r}")
    kind, output, sharding, shard = parsed
    if kind == IMAGES_TASK:
        return shard_marker_key(output, shard, sharding=sharding)
    return score_key(output, shard, sharding=sharding)


def attempts_key(task: str) -> str:
    return f"attempts/{task}.json"


def failure_key(task: str) -> str:
    return f"{FAILURES}{task}.json"


def failure_task(key: str) -> str | None:
    """The task key of a ``failures/<task key>.json`` key, else None."""
    if key.startswith(FAILURES) and key.endswith(".json"):
        task = key[len(FAILURES) : -len(".json")]
        return task if parse_task_key(task) else None
    return None
