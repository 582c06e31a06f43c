"""Import boundaries: the library does not depend on the cluster, and the search is torch-free
at import time."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("celery", "redis", "kombu")
#: The cluster's packages, inside the ecad namespace (no top-level names to collide with).
CLUSTER = ("ecad.worker", "ecad.scheduler")


def _imports(path: Path) -> set[str]:
    """Full names of the modules ``path`` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _is_cluster_code(name: str) -> bool:
    return name.split(".")[0] in FORBIDDEN or any(
        name == c or name.startswith(c + ".") for c in CLUSTER)


def test_ecad_outside_the_cli_imports_no_cluster_code():
    offenders = {}
    for path in sorted((ROOT / "ecad").rglob("*.py")):
        if path.relative_to(ROOT / "ecad").parts[0] in ("cli", "worker", "scheduler"):
            continue
        bad = {n for n in _imports(path) if _is_cluster_code(n)}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, offenders


def test_the_cluster_packages_do_not_import_the_cli():
    for package in ("worker", "scheduler"):
        for path in sorted((ROOT / "ecad" / package).rglob("*.py")):
            assert not {n for n in _imports(path) if n.startswith("ecad.cli")}, path


def test_search_and_store_keys_import_no_torch():
    code = (
        "import sys, ecad.search, ecad.search.driver, ecad.store.keys, ecad.cost; "
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_upward_imports():
    """families does not import generation; cost does not import bench; the initial population
    does not open sessions."""
    def modules(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        return out

    for path, banned in [
        (ROOT / "ecad/families/loading.py", "ecad.generation"),
        (ROOT / "ecad/search/initial.py", "ecad.search.session"),
    ] + [(p, "ecad.bench") for p in (ROOT / "ecad/cost").glob("*.py")]:
        assert not any(m.startswith(banned) for m in modules(path)), (path, banned)
