"""Small world files written into a test's temp dir."""

from __future__ import annotations

from pathlib import Path

CORRIDOR = """
name = "corridor"
title = "Test corridor"
capacity = 50
[bounds]
min = [-10.0, -10.0]
max = [10.0, 10.0]
[[box]]
name = "north-wall"
min = [-10.0, 3.0, 0.0]
max = [10.0, 3.3, 3.0]
[[spawn]]
at = [0.0, 0.0]
yaw = 0.0
"""

# Two spawn points 60 m apart: the first and third joiners are together, the second is far.
TWO_ENDS = """
name = "twoends"
title = "Two ends"
capacity = 50
[bounds]
min = [-50.0, -50.0]
max = [50.0, 50.0]
[[spawn]]
at = [-30.0, 0.0]
[[spawn]]
at = [30.0, 0.0]
[[place]]
name = "West"
at = [-30.0, 0.0]
"""


def write_world(tmp: Path, text: str, name: str) -> str:
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return str(path)
