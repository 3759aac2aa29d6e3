"""Crop-model inputs: PCSE YAML test files, PCSE-style parameters and weather -> batched tensors."""

from dmg_bmi.domains.crop.pcse.batch import Batch, FieldInput, build_batch, cases_to_batch
from dmg_bmi.domains.crop.pcse.pcse_yaml import PcseCase, Series, load_case, load_dir

__all__ = [
    "Batch",
    "FieldInput",
    "PcseCase",
    "Series",
    "build_batch",
    "cases_to_batch",
    "load_case",
    "load_dir",
]
