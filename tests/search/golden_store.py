"""Every object a search leaves in the store, as digests: pins the stored form across refactors.

Four small searches run here: the tiny spec in process (the real tiny model, reference images,
fidelity scores), and an image-reward search with known scores (no model) with pruning, run by a
blocking executor, by a queued (cluster-like) one, and queued with a recorded failure. Each
object's digest is taken over its bytes with the values that hold wall-clock time replaced (they
differ between any two runs); everything else must be byte-identical.

``python -m tests.search.golden_store`` writes ``tests/search/golden_store.json`` (run it with
the code whose stored form is the reference); ``test_golden_store.py`` compares against it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ecad.search import SearchSession, load_spec, run_search
from ecad.search.driver import SearchDriver
from ecad.search.failures import record_failure
from ecad.store import FilesystemStore

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden_store.json")

#: Keys whose values are wall-clock times or durations (any run differs there).
TIMES = frozenset(
    {
        "created",
        "updated",
        "generation_started",
        "seconds",
        "shard_seconds",
        "cpu_seconds",
        "eta_seconds",
        "time",
        "deadline_s",
    }
)
#: Objects that differ per store by design (a random identity).
SKIP = frozenset({"store.json"})


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<time>" if k in TIMES else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def object_digest(key: str, data: bytes, root: str = "") -> str:
    """The digest of a stored object's bytes; a JSON object's times are replaced first (and the
    rest re-encoded the way :meth:`ObjectStore.put_json` encodes it), and the run's temporary
    folder ``root`` and the checkout's folder (in the spec's prompt file name). A safetensors
    header is taken with sorted keys (the library writes its metadata in hash order)."""
    if root:
        data = data.replace(root.encode(), b"<root>")
    data = data.replace(str(REPO).encode(), b"<repo>")  # the spec keeps its prompt file's path
    if key.endswith(".safetensors"):
        size = int.from_bytes(data[:8], "little")
        header = json.dumps(json.loads(data[8 : 8 + size]), sort_keys=True).encode()
        data = header + data[8 + size :]
    elif key.endswith(".json"):
        value = json.loads(data)
        scrubbed = json.dumps(_scrub(value), indent=1, sort_keys=True).encode()
        if scrubbed != json.dumps(value, indent=1, sort_keys=True).encode():
            data = scrubbed  # else the raw bytes: their encoding is pinned too
    return hashlib.sha256(data).hexdigest()


def store_digests(store: FilesystemStore, root: Path) -> dict[str, str]:
    return {
        key: object_digest(key, store.get(key), str(root))
        for key in sorted(store.list(""))
        if key not in SKIP
    }


def _tiny(root: Path) -> FilesystemStore:
    data = yaml.safe_load((REPO / "specs" / "tiny.yaml").read_text())
    data["generations"] = 2
    path = root / "tiny.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    store = FilesystemStore(root / "store")
    run_search(store, load_spec(path), progress=lambda _: None)
    return store


def _known(root: Path, queued: bool, fail: bool = False) -> FilesystemStore:
    from tests.search.known_scores import KnownScores, QueuedKnownScores, pruning_spec

    root.mkdir(parents=True, exist_ok=True)
    spec = pruning_spec(root, True, generations=3)
    store = FilesystemStore(root / "store")
    session, _ = SearchSession.create(store, spec)
    if fail:  # candidate 1's shard 3 given up on before the generation starts
        cand = [c for c in session.pending() if c.feasible][1]
        task = session.plan.task_key("shard", cand.evaluation_key, 3)
        record_failure(store, task, "given up on (golden)", starts=3, workers=["w"])
    executor = QueuedKnownScores(session, store) if queued else KnownScores(session, store)
    driver = SearchDriver(session, executor)
    while driver.step():
        pass
    return store


VARIANTS = {
    "tiny-in-process": _tiny,
    "known-pruned-blocking": lambda root: _known(root, queued=False),
    "known-pruned-queued": lambda root: _known(root, queued=True),
    "known-pruned-queued-failure": lambda root: _known(root, queued=True, fail=True),
}


def run_variant(name: str, root: Path) -> dict[str, str]:
    return store_digests(VARIANTS[name](root), root)


def main(out: Path = GOLDEN) -> None:
    import tempfile

    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in VARIANTS:
            golden[name] = run_variant(name, Path(tmp) / name)
    out.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: {sum(map(len, golden.values()))} objects", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN)
