"""ngen's floor for `benchmarks/ngen_step.py`: a BMI that does nothing but declares exactly what
`DeltaModelBmi` declares for the same init config (inputs, outputs, units, types, time), so ngen does the
same per-step work around it (forcing look-ups, set_value, get_value, output writing)."""

from __future__ import annotations

import numpy as np
from bmipy import Bmi

from dmg_bmi.bmi import DeltaModelBmi


class NullBmi(Bmi):
    """Same variables as DeltaModelBmi for the config; `update` only advances the clock."""

    def initialize(self, config_file: str) -> None:
        real = DeltaModelBmi()
        real.initialize(config_file)
        self._inputs = tuple(real.get_input_var_names())
        self._outputs = tuple(real.get_output_var_names())
        names = (*self._inputs, *self._outputs, "area_km2")
        self._units = {n: real.get_var_units(n) for n in names}
        self._values = {n: np.zeros(1) for n in names}
        self._dt, self._end, self._t = real.get_time_step(), real.get_end_time(), 0.0
        real.finalize()

    def update(self) -> None:
        self._t += self._dt

    def update_until(self, time: float) -> None:
        self._t = float(time)

    def finalize(self) -> None:
        self._values = {}

    def get_component_name(self) -> str:
        return "ngen floor (no model)"

    def get_input_item_count(self) -> int:
        return len(self._inputs)

    def get_output_item_count(self) -> int:
        return len(self._outputs)

    def get_input_var_names(self) -> tuple[str, ...]:
        return self._inputs

    def get_output_var_names(self) -> tuple[str, ...]:
        return self._outputs

    def get_var_grid(self, name: str) -> int:
        return 0

    def get_var_type(self, name: str) -> str:
        return "float64"

    def get_var_units(self, name: str) -> str:
        return self._units[name]

    def get_var_itemsize(self, name: str) -> int:
        return 8

    def get_var_nbytes(self, name: str) -> int:
        return 8

    def get_var_location(self, name: str) -> str:
        return "node"

    def get_current_time(self) -> float:
        return self._t

    def get_start_time(self) -> float:
        return 0.0

    def get_end_time(self) -> float:
        return self._end

    def get_time_units(self) -> str:
        return "s"

    def get_time_step(self) -> float:
        return self._dt

    def get_value(self, name: str, dest: np.ndarray) -> np.ndarray:
        dest[:] = self._values[name]
        return dest

    def get_value_ptr(self, name: str) -> np.ndarray:
        return self._values[name]

    def get_value_at_indices(self, name: str, dest: np.ndarray, inds: np.ndarray) -> np.ndarray:
        dest[:] = self._values[name][inds]
        return dest

    def set_value(self, name: str, src: np.ndarray) -> None:
        self._values.setdefault(name, np.zeros(1))[:] = src

    def set_value_at_indices(self, name: str, inds: np.ndarray, src: np.ndarray) -> None:
        self._values[name][inds] = src

    def get_grid_rank(self, grid: int) -> int:
        return 0

    def get_grid_size(self, grid: int) -> int:
        return 1

    def get_grid_type(self, grid: int) -> str:
        return "scalar"

    def get_grid_shape(self, grid, shape):
        return shape

    def get_grid_spacing(self, grid, spacing):
        return spacing

    def get_grid_origin(self, grid, origin):
        return origin

    def get_grid_x(self, grid, x):
        return x

    def get_grid_y(self, grid, y):
        return y

    def get_grid_z(self, grid, z):
        return z

    def get_grid_node_count(self, grid: int) -> int:
        return 1

    def get_grid_edge_count(self, grid: int) -> int:
        return 0

    def get_grid_face_count(self, grid: int) -> int:
        return 0

    def get_grid_edge_nodes(self, grid, edge_nodes):
        return edge_nodes

    def get_grid_face_edges(self, grid, face_edges):
        return face_edges

    def get_grid_face_nodes(self, grid, face_nodes):
        return face_nodes

    def get_grid_nodes_per_face(self, grid, nodes_per_face):
        return nodes_per_face
