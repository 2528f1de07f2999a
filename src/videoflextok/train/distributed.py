"""Process-group setup for torchrun, and the DDP / FSDP2 wrappers.

``torchrun --nproc_per_node=N ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; :func:`init_distributed` reads
them and joins the group (NCCL on GPU, gloo on CPU). Without them everything runs as a single process
(rank 0 of 1). Only rank 0 writes files; every rank reads its own shard of the data.
"""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from videoflextok.errors import ConfigError


@dataclass
class DistInfo:
    rank: int = 0  # global rank of this process
    world_size: int = 1  # number of processes in the job
    local_rank: int = 0  # rank on this machine (selects the GPU)
    device: torch.device = torch.device("cpu")  # where this rank computes
    initialized_here: bool = False  # whether init_distributed created the process group (and should destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto``: cuda:<local_rank> when CUDA is available, else cpu; ``cuda`` / ``cuda:i`` / ``cpu`` as given."""
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device={preference} was asked for but CUDA is not available; use train.device=cpu")
    if preference.startswith("cuda:"):
        return torch.device(preference)
    return torch.device("cuda", local_rank)


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 matmuls natively: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to ask, stay in fp32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> "bf16" where :func:`bf16_supported`, else "fp32"; "fp32" / "bf16" as given."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group when launched by torchrun with WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    created = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        device_id = dev if dev.type == "cuda" else None
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30), device_id=device_id)
        created = True
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev, initialized_here=created)


def shutdown(info: DistInfo) -> None:
    """Leave the group this process joined, in step with the other ranks.

    DDP / FSDP wrappers keep the group alive through reference cycles; collecting them first lets the
    group's worker threads stop while the interpreter is still whole (a group freed during interpreter
    teardown can abort the process after a finished run). The barrier keeps one rank from closing its
    connections while another is still inside a collective.
    """
    if info.initialized_here and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce(value: torch.Tensor, info: DistInfo, op: str = "sum") -> torch.Tensor:
    """Sum / max / mean of a tensor over ranks (returns the input unchanged for a single process)."""
    if not info.distributed:
        return value
    out = value.clone()
    red = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "mean": dist.ReduceOp.SUM}[op]
    dist.all_reduce(out, op=red)
    return out / info.world_size if op == "mean" else out


def broadcast_int(value: int, info: DistInfo) -> int:
    """Rank 0's integer on every rank."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=info.device)
    dist.broadcast(t, src=0)
    return int(t.item())


class LossModule(nn.Module):
    """``forward(batch) = model.training_losses(batch)``, so DDP/FSDP/compile hooks see one forward call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.training_losses(batch)


def block_modules(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a model: every element of every ``nn.ModuleList`` (outermost lists only)."""
    blocks: list[nn.Module] = []
    inside: set[int] = set()
    for module in model.modules():
        if id(module) in inside:
            continue
        if isinstance(module, nn.ModuleList):
            for child in module:
                blocks.append(child)
                inside.update(id(m) for m in child.modules())
    return blocks


def wrap_ddp(module: nn.Module, info: DistInfo, find_unused: bool = True) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)


def wrap_fsdp(module: nn.Module, info: DistInfo) -> nn.Module:
    """FSDP2: ``fully_shard`` every block, then the root (parameters become DTensor shards)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(info.device.type, (info.world_size,))
    for block in block_modules(module):
        fully_shard(block, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module
