"""Spatial simulation: SoA entity arrays and numba kernels run once per tick.

Imports only numpy, numba and `world.protocol`; does no I/O. A tick is
`world.sim.pipeline.step`: `integrate` (intent -> yaw, position), `build_grid`,
`separate`, then one interest pass (`world.sim.interest`) that chooses and encodes
every observer's snapshot. `query_neighbours` is the stand-alone neighbour search
(benchmarked against cKDTree); `encode_bodies` / `encode_poses` encode arbitrary row
lists. The client imports `move_one` from `world.sim.movement` for prediction.
"""

from world.sim.encode import BODY_SIZE, POSE_SIZE, encode_bodies, encode_poses
from world.sim.grid import (
    GridSpec, build_grid, diff_sorted, grid_for_bounds, query_neighbours, rows_within,
)
from world.sim.movement import Params, integrate, move_one, resolve_static, separate, wrap_angle
from world.sim.state import KIND_AGENT, KIND_AVATAR, KIND_OBJECT, Bodies

__all__ = [
    "BODY_SIZE", "POSE_SIZE", "encode_bodies", "encode_poses",
    "GridSpec", "build_grid", "diff_sorted", "grid_for_bounds", "query_neighbours", "rows_within",
    "Params", "integrate", "move_one", "resolve_static", "separate", "wrap_angle",
    "KIND_AGENT", "KIND_AVATAR", "KIND_OBJECT", "Bodies",
]
