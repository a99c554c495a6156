"""Running ``bench`` in-process as the console script does, and the refusal contract every bad-input case asserts."""
from __future__ import annotations

import hashlib
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from bench.cli import main


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (or of ``root`` itself): equal before and after = nothing written or replaced."""
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def run(argv: list[str]) -> tuple[int, str]:
    """``bench ARGV`` in-process, as the console script runs it: (exit status, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["bench", *argv]
    code = 0
    try:
        with redirect_stderr(err), redirect_stdout(out):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return code, err.getvalue()


def refused(argv: list[str], message: str) -> str:
    """Exit status 1, no traceback, exactly one ``error:`` line, and it holds ``message``."""
    code, err = run(argv)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and message in lines[0], err
    return lines[0]


def evaluate_argv(world, out: Path, *extra: str, generated: Path | None = None, pairs: Path | None = None) -> list[str]:
    return ["evaluate", str(generated or world["generated"]), "--dataset", str(world["data"]), "--pairs-dir",
            str(pairs or world["prepared"]), "--metrics", "ssim,psnr", "--out", str(out), *extra]
