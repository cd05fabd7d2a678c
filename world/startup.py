"""What `agora serve` tells a person while it starts: one line before slow work (with a spinner
on a terminal), and how long it took after. Lines go to stderr; stdout keeps the URL line."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def step(doing: str, done: str, out: TextIO | None = None) -> Iterator[None]:
    """Say `doing` (spinning on a terminal), run the block, then say `done` with the seconds."""
    out = sys.stderr if out is None else out
    t0 = time.perf_counter()
    if out.isatty():
        from rich.console import Console

        with Console(file=out).status(doing + " ..."):
            yield
    else:
        print(doing + " ...", file=out, flush=True)
        yield
    print(f"{done} in {time.perf_counter() - t0:.1f} s", file=out, flush=True)
