"""The import rules of ``../shared/ARCHITECTURE.md``, checked over every import in ``ecad/``.

Every import counts: at module level and inside functions (a lazy import is still a
dependency; it only moves the failure to run time). A *part* of the library is a subpackage
(``ecad.search``) or a top-level module (``ecad.errors``). :data:`MAY_IMPORT` says, part by part,
which other parts it may import; anything else is an upward import. The test also fails on any
circle between parts, and on any circle between modules (inside one package too).

Data flows one way: ``ecad.cli -> ecad.scheduler -> ecad.worker (client side) -> library``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layers, lowest first. A part may import the parts named here, and nothing above them.
_BASE = {"ecad", "ecad.errors"}
_FILES = _BASE | {"ecad.atomic", "ecad.textfile", "ecad.yamlfile", "ecad.masking", "ecad.videofile"}
_HOST = _FILES | {
    "ecad.credentials",
    "ecad.secret_files",
    "ecad.environment",
    "ecad.resources",
    "ecad.library_logs",
    "ecad.heartbeat",
}
_MODEL = _HOST | {"ecad.families", "ecad.schedules"}
_LIBRARY = _MODEL | {
    "ecad.store",
    "ecad.prompts",
    "ecad.scoring",
    "ecad.cost",
    "ecad.caching",
    "ecad.generation",
    "ecad.bench",
    "ecad.search",
    "ecad.report",
}

MAY_IMPORT: dict[str, set[str]] = {
    # foundation: no dependencies above the error hierarchy
    "ecad": set(),
    "ecad.errors": set(),
    "ecad._data": set(),  # package data (prompt sets, specs), no code
    "ecad.atomic": _BASE,
    "ecad.textfile": _BASE,
    "ecad.yamlfile": _BASE | {"ecad.textfile"},
    "ecad.masking": _BASE,
    "ecad.videofile": _BASE,  # video files (PyAV, imported lazily)
    "ecad.credentials": _BASE,
    "ecad.secret_files": _BASE | {"ecad.credentials"},
    "ecad.environment": _BASE,
    "ecad.resources": _BASE,
    "ecad.library_logs": _BASE,
    "ecad.heartbeat": _BASE,
    # the library, bottom up
    "ecad.store": _HOST,
    "ecad.prompts": _HOST,
    "ecad.scoring": _HOST,
    "ecad.families": _HOST,
    "ecad.schedules": _HOST | {"ecad.families"},
    "ecad.cost": _MODEL,
    "ecad.caching": _MODEL,
    "ecad.generation": _MODEL | {"ecad.caching"},
    "ecad.bench": _MODEL | {"ecad.caching", "ecad.cost", "ecad.generation"},
    "ecad.search": _MODEL
    | {
        "ecad.store",
        "ecad.prompts",
        "ecad.scoring",
        "ecad.cost",
        "ecad.caching",
        "ecad.generation",
    },
    "ecad.report": _MODEL
    | {
        "ecad.store",
        "ecad.prompts",
        "ecad.scoring",
        "ecad.cost",
        "ecad.caching",
        "ecad.generation",
        "ecad.search",
    },
    # the cluster: workers run the library; the scheduler is a client of the workers' app
    "ecad.worker": _LIBRARY,
    "ecad.scheduler": _LIBRARY | {"ecad.worker"},
    # the composition root
    "ecad.cli": _LIBRARY | {"ecad.worker", "ecad.scheduler"},
    "ecad.__main__": {"ecad.cli"},
}

#: Third-party packages only some parts may import.
RESTRICTED = {
    "celery": {"ecad.worker", "ecad.scheduler", "ecad.cli"},
    "kombu": {"ecad.worker", "ecad.scheduler", "ecad.cli"},
    "redis": {"ecad.worker", "ecad.scheduler", "ecad.cli"},
    "minio": {"ecad.store.s3"},  # by module: the MinIO backend only
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "ecad").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _part(module: str) -> str:
    """``ecad.search.driver`` -> ``ecad.search``; ``ecad.errors`` -> ``ecad.errors``."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported name, line) for every import in ``path``; ``from a import b`` gives ``a.b``
    when that is a module, else ``a``; relative imports are resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, node.module] if node.module else up)
            for a in node.names:
                name = f"{base}.{a.name}"
                found.append((name if name in MODULES else base, node.lineno))
    return found


def _ecad_module(name: str) -> str | None:
    """The ``ecad`` module that importing ``name`` runs (the longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, dict[str, list[str]]]:
    """module -> imported ecad module -> where (``path:line``)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, path in MODULES.items():
        for name, line in _imports(module, path):
            if name.split(".")[0] != "ecad":
                continue
            target = _ecad_module(name)
            if target and target != module:
                graph[module][target].append(f"{path.relative_to(ROOT)}:{line}")
    return graph


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return circles


def test_every_part_of_ecad_has_a_rule():
    parts = {_part(m) for m in MODULES}
    assert parts == set(MAY_IMPORT), (
        f"parts without a rule: {sorted(parts - set(MAY_IMPORT))}; "
        f"rules without a part: {sorted(set(MAY_IMPORT) - parts)}"
    )


def test_the_rules_themselves_have_no_circle():
    assert not _circles({k: set(v) for k, v in MAY_IMPORT.items()})


def test_no_upward_import():
    offenders = []
    for module, targets in _graph().items():
        source = _part(module)
        for target, where in targets.items():
            part = _part(target)
            if part != source and part not in MAY_IMPORT.get(source, set()):
                offenders.append(f"{where[0]}: {source} imports {target}")
    assert not offenders, "upward imports:\n" + "\n".join(sorted(offenders))


def test_no_circle_between_parts():
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in _graph().items():
        for target in targets:
            if _part(target) != _part(module):
                edges[_part(module)].add(_part(target))
    assert not _circles(edges)


def test_no_circle_between_modules():
    """Inside a package too (``caching.hooks`` and ``caching.exclusive`` imported each other)."""
    graph = _graph()
    circles = _circles({m: set(t) for m, t in graph.items()})
    assert not circles, circles


def test_restricted_third_party_packages():
    offenders = []
    for module, path in MODULES.items():
        for name, line in _imports(module, path):
            allowed = RESTRICTED.get(name.split(".")[0])
            if allowed is not None and not ({module, _part(module)} & allowed):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not offenders, offenders


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    """The parser counts an import inside a function, and resolves a relative one."""
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from ..store import keys\n    import ecad.worker.app\n")
    names = {n for n, _ in _imports("ecad.search.mod", path)}
    assert names == {"ecad.store.keys", "ecad.worker.app"}


def test_the_cli_imports_the_cluster_lazily():
    """The composition root imports ``ecad.worker``/``ecad.scheduler`` (and celery, redis)
    only inside the commands that need them: ``ecad --help`` and the local commands load none."""
    lazy = ("ecad.worker", "ecad.scheduler", "celery", "redis", "kombu")
    offenders = []
    for module, path in MODULES.items():
        if _part(module) != "ecad.cli":
            continue
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                offenders += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {n}"
                    for n in names
                    if n.startswith(lazy)
                ]
    assert not offenders, offenders
