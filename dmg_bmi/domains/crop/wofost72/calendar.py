"""Crop calendar per field as day indices on the run's time axis (PCSE CropCalendar rules).

- `start`: day index of crop start (sowing, or emergence when `emerged`); the campaign (soil) starts too.
- `end`: last day the crop may live: the harvest date for end type harvest/earliest, else
  start + max_duration (PCSE's max_duration also caps harvest-type crops).
- `at_maturity`: the crop also finishes on the day DVS reaches DVSEND (end type maturity or earliest).
On its finish day the crop's rates and outputs still count; afterwards the field is masked (ACTIVE = 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from dmg_bmi.errors import InputError


@dataclass
class Calendar:
    """Per-field calendar tensors `[B]`: start/end day indices (long), emerged/at_maturity (bool)."""

    start: torch.Tensor
    end: torch.Tensor
    emerged: torch.Tensor
    at_maturity: torch.Tensor

    @classmethod
    def from_attrs(cls, attrs: dict[str, torch.Tensor]) -> Calendar:
        """From attributes CROP_START, CROP_END (day indices), START_EMERGED, END_AT_MATURITY (0/1)."""
        missing = [
            k for k in ("CROP_START", "CROP_END", "START_EMERGED", "END_AT_MATURITY") if k not in attrs
        ]
        if missing:
            raise InputError(f"missing crop-calendar attribute(s): {', '.join(missing)}")
        return cls(
            attrs["CROP_START"].round().long(),
            attrs["CROP_END"].round().long(),
            attrs["START_EMERGED"] > 0.5,
            attrs["END_AT_MATURITY"] > 0.5,
        )

    @cached_property
    def start_days(self) -> frozenset[int]:
        """Day indices on which some field starts: metadata of the run (read once), so that the day step
        does the crop-start work only on those days."""
        return frozenset(self.start.tolist())

    def to_attrs(self, dtype=torch.float64) -> dict[str, torch.Tensor]:
        return {
            "CROP_START": self.start.to(dtype),
            "CROP_END": self.end.to(dtype),
            "START_EMERGED": self.emerged.to(dtype),
            "END_AT_MATURITY": self.at_maturity.to(dtype),
        }

    def index(self, idx) -> Calendar:
        """The calendar of a subset of fields."""
        return Calendar(self.start[idx], self.end[idx], self.emerged[idx], self.at_maturity[idx])

    def validate(self, n_days: int) -> None:
        if bool((self.end < self.start).any()) or bool((self.start < 0).any()):
            b = int(torch.nonzero((self.end < self.start) | (self.start < 0))[0])
            raise InputError(
                f"calendar of field {b}: start day {int(self.start[b])}, end day {int(self.end[b])}"
            )
        if bool((self.start >= n_days).any()):
            b = int(torch.nonzero(self.start >= n_days)[0])
            raise InputError(
                f"calendar of field {b}: start day {int(self.start[b])} is beyond the {n_days} days"
            )
