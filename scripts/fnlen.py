"""Function-length statistics (end_lineno - lineno + 1 for every def) over source folders.

Usage: python scripts/fnlen.py [folder ...]  (default: bench baselines pipelines)
"""

import ast
import sys
from pathlib import Path


def lengths(folder: Path) -> list[tuple[int, str]]:
    """(length, "file:line name") for every function and method under ``folder``."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno} {node.name}"))
    return out


def percentile(values: list[int], q: float) -> float:
    """Linear-interpolated percentile, numpy's default rule."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def report(name: str, rows: list[tuple[int, str]]) -> None:
    sizes = [n for n, _ in rows]
    print(f"{name}: {len(sizes)} functions, median {percentile(sizes, 0.5):g}, "
          f"p90 {percentile(sizes, 0.9):g}, p99 {percentile(sizes, 0.99):g}, max {max(sizes)}")


def main(folders: list[str]) -> None:
    every = []
    for folder in folders:
        rows = lengths(Path(folder))
        report(folder, rows)
        every += rows
    report("all", every)
    print("longest:")
    for n, where in sorted(every, reverse=True)[:10]:
        print(f"  {n:4d}  {where}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["bench", "baselines", "pipelines"])
