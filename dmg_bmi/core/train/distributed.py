"""PyTorch distributed data parallel, detected from the `torchrun` environment.

`torchrun --nproc_per_node=N -m dmg_bmi.cli train ...` sets WORLD_SIZE/RANK/LOCAL_RANK; then each process
joins one process group (gloo on CPU, nccl on CUDA), draws its own minibatches, and DDP averages gradients.
Without those variables everything runs in one process.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from dmg_bmi.errors import ConfigError


@dataclass
class DistContext:
    """This process's place in the job: `rank` of `world_size` (1 = not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def any_true(self, flag: bool, device: torch.device) -> bool:
        """True if `flag` is true on any process (a collective: every rank must call it)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, value: float, device: torch.device) -> float:
        """Mean of a scalar over processes (a collective)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        torch_dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()


def resolve_device(device: str, key: str) -> torch.device:
    """`cpu`, `cuda`, `cuda:N` or `auto` (cuda when available) as a torch device. Any other name, CUDA on a
    machine without it, or a `cuda:N` this machine lacks raises ConfigError naming `key` (e.g. `--device`)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|cuda(:[0-9]+)?", device):
        raise ConfigError(f"{key}: {device!r} is not one of cpu, cuda, cuda:N, auto")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build"
            raise ConfigError(f"{key}: {device!r} requested but CUDA is not available (torch "
                              f"{torch.__version__}, {build}, no GPU visible); use cpu")
        index, count = torch.device(device).index, torch.cuda.device_count()
        if index is not None and index >= count:
            raise ConfigError(f"{key}: {device!r} requested but this machine has {count} CUDA device(s): "
                              f"{', '.join(f'cuda:{i}' for i in range(count))}")
    return torch.device(device)


def setup(device: str) -> tuple[DistContext, torch.device]:
    """Join the process group when launched by torchrun, and pick this process's device.

    device: `cpu`, `cuda`, `cuda:N` or `auto` (cuda when available); see `resolve_device`.
    """
    resolved = resolve_device(device, "run.device")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    ctx = DistContext(
        rank=int(os.environ.get("RANK", "0")), world_size=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if ctx.enabled and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    if resolved.type == "cuda" and ctx.enabled:
        torch.cuda.set_device(ctx.local_rank)
        return ctx, torch.device("cuda", ctx.local_rank)
    return ctx, resolved


def teardown(ctx: DistContext, together: bool = True) -> None:
    """Leave the process group. `together` (a run that finished normally): a barrier first, so no rank
    destroys the group and exits while another still uses it (rank 0 writes and prints after the training
    loop's last barrier; without it, gloo aborted a rank now and then). After an error, no barrier: the
    other ranks may be inside a collective, and torchrun ends them."""
    if ctx.enabled and torch_dist.is_initialized():
        if together:
            torch_dist.barrier()
        torch_dist.destroy_process_group()
