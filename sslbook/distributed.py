"""Several processes, one contrastive batch: the pieces of torch.distributed the losses need.

Under ``torchrun`` (or any ``torch.distributed`` process group) every process holds its own
shard of the batch. A contrastive loss should still see the negatives of every process, so
the embeddings are gathered. The gather must carry gradients back: each process's loss
depends on every process's embeddings, so the gradient that reaches a process's embeddings
is the *sum* over processes of the gradients of their losses. An all-gather that returns only
the local gradient (as lightly's ``GatherLayer`` did until lightly#1528) trains a different
loss than the one it computes.

With one process, or without an initialised process group, everything here is the identity.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the incoming gradients over processes and
    returns this process's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rows = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every process's ``x`` (B x ...), concatenated in rank order: (world size * B) x ....

    Every process must pass the same shape. Gradients flow back to every process's ``x``:
    the backward pass sums them over processes (see the module's docstring). Without a
    process group it returns ``x`` itself.

    >>> gather(torch.ones(2, 3)).shape
    torch.Size([2, 3])
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ValueError(f"x must be a tensor with a batch dimension, got {type(x).__name__}")
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Every process's ``x``, concatenated in rank order, without gradients (for MoCo's keys,
    which enter the queue detached). Without a process group it returns ``x`` detached."""
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ValueError(f"x must be a tensor with a batch dimension, got {type(x).__name__}")
    if not is_distributed():
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts, dim=0)
