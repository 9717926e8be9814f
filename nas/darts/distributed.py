"""Multi-process search: the small amount of ``torch.distributed`` a DARTS search needs.

Under ``torchrun`` every rank reads the same batches (the loaders are pure functions of
(seed, epoch)) and keeps only its shard of each one, so the data order, checkpoints and
resume logic are exactly those of a single process. The supernet is wrapped in
DistributedDataParallel for the weight step; the architecture step runs on the bare
module, so its gradients are averaged explicitly just before the Adam step (a
step-pre-hook on the architect's optimizer), which keeps the alphas identical on all
ranks whatever the architect does internally (first or second order).
"""

from __future__ import annotations

import atexit
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from nas.errors import NasError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` (1 and 0 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_distributed() -> bool:
    """True when started by ``torchrun`` (or ``torch.distributed.run``) with several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> DistContext:
    """Join the process group torchrun prepared (gloo on CPU, NCCL on CUDA); no-op for one process."""
    if not launched_distributed():
        return DistContext()
    if not dist.is_available():
        raise NasError("distributed search: this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        # Several searches (--seeds) share the group; it is torn down once, when the process ends.
        atexit.register(_destroy)
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def shard(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's contiguous slice of a global batch."""
    if not ctx.enabled:
        return tensor
    return tensor.tensor_split(ctx.world_size)[ctx.rank]


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise sum over ranks (metrics: loss sums, correct counts, sample counts)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def average_gradients(params: list[torch.Tensor], ctx: DistContext) -> None:
    """Replace each gradient with its mean over ranks (one flat all-reduce)."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def sync_optimizer_gradients(optimizer: torch.optim.Optimizer, ctx: DistContext) -> Any:
    """Average the gradients of ``optimizer``'s parameters over ranks before each of its steps."""
    if not ctx.enabled:
        return None
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def hook(_optimizer: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
        average_gradients(params, ctx)

    return optimizer.register_step_pre_hook(hook)


def wrap(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when distributed (architecture weights included)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    # Parameters of channels-last supernets may get gradients in another layout than DDP's buckets:
    # a copy per step (a performance note, not an error) that is not worth a warning per run.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    device_ids = [ctx.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)
