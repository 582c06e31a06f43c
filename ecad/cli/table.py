"""One table style for every command: a header, aligned columns, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["render_table"]


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                 align: str | None = None) -> str:
    """Plain-text table; ``align`` is one ``l``/``r`` per column (default: text left, the rest
    right). Cells are shown with ``str``; format numbers (units included) before passing them."""
    cells = [[str(c) for c in row] for row in rows]
    if align is None:
        first = rows[0] if rows else ["" for _ in headers]
        align = "".join("l" if isinstance(c, str) and not _numeric(c) else "r" for c in first)
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.ljust(w) if a == "l" else v.rjust(w) for v, w, a in zip(values, widths, align)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in cells)])


def _numeric(text: str) -> bool:
    stripped = text.strip().rstrip("x%").replace(" dB", "").lstrip("-")
    return stripped.replace(".", "", 1).isdigit() or stripped == ""
