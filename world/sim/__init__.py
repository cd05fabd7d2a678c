"""Spatial simulation: SoA entity arrays and numba kernels run once per tick.

Imports only numpy, numba and `world.protocol`; does no I/O. A tick is, in
order: `integrate` (intent -> yaw, position), `build_grid`, `separate`,
`build_grid` again if anything moved, `query_neighbours` (interest), then
`encode_bodies` / `encode_poses` per client. The client imports `move_one`
from `world.sim.movement` for prediction.
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
