"""Several processes, one contrastive batch: the pieces of torch.distributed the losses need.

Under ``torchrun`` (or any ``torch.distributed`` process group) every process holds its own
shard of the batch. A contrastive loss should still see the negatives of every process, so
the embeddings are gathered. The gather must carry gradients back: each process's loss
depends on every process's embeddings, so the gradient that reaches a process's embeddings
is the *sum* over processes of the gradients of their losses. An all-gather that returns only
the local gradient (as lightly's ``GatherLayer`` did until lightly#1528) trains a different
loss than the one it computes.

With one process, or without an initialised process group, everything here is the identity.
:func:`check_gather` starts a few CPU processes and checks a gathered loss against one process
on the whole batch (chapter 7, section 7.4).

This module is also the one reader of ``torchrun``'s variables (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``: :func:`launch`) and the one owner of "which device is mine" (:func:`device`:
GPU number ``LOCAL_RANK`` of this machine under ``torchrun``). :func:`start` opens the process
group (NCCL on GPUs, gloo on CPUs) after ``torch.cuda.set_device(LOCAL_RANK)``, and :func:`wrap`
wraps a model in ``DistributedDataParallel`` with ``device_ids=[LOCAL_RANK]`` on a GPU::

    started = distributed.start()                 # under torchrun; False (nothing to do) otherwise
    model = distributed.wrap(model.to(distributed.device()))
    ...
    if started:
        distributed.stop()
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


class Launch(NamedTuple):
    """What ``torchrun`` told this process: its global ``rank``, its ``local_rank`` on this
    machine and the ``world_size`` (the number of processes on every machine)."""

    rank: int
    local_rank: int
    world_size: int


def _env_int(name: str, default: int, minimum: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (torchrun sets it), got {value!r}")
    return number


def launch() -> Launch:
    """This process's place under ``torchrun``, read from ``WORLD_SIZE``, ``RANK`` and
    ``LOCAL_RANK`` (rank 0 of 1 where they are not set). The only reader of these variables.

    A variable that is not a non-negative integer, a ``RANK`` or ``LOCAL_RANK`` not below
    ``WORLD_SIZE``, raises ``ValueError`` naming the variable.

    >>> launch()                                  # a plain process
    Launch(rank=0, local_rank=0, world_size=1)
    """
    world = _env_int("WORLD_SIZE", 1, 1)
    rank_, local = _env_int("RANK", 0, 0), _env_int("LOCAL_RANK", 0, 0)
    if rank_ >= world:
        raise ValueError(f"RANK must be below WORLD_SIZE ({world}), got {rank_}")
    if local >= world:
        raise ValueError(f"LOCAL_RANK must be below WORLD_SIZE ({world}), got {local}")
    return Launch(rank_, local, world)


def launched() -> bool:
    """Whether this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    return launch().world_size > 1


def device() -> torch.device:
    """The device this process should use: under ``torchrun`` with CUDA, GPU ``LOCAL_RANK``
    (``cuda:LOCAL_RANK``); one process with CUDA, ``cuda``; without CUDA, the CPU.

    Every process of ``torchrun`` on a machine with N GPUs gets its own GPU; a process that put
    its model on a bare ``cuda`` would use GPU 0, as would all the others. ``LOCAL_RANK`` beyond
    the GPUs present raises ``ValueError``.

    >>> device().type in ("cpu", "cuda")
    True
    """
    env = launch()
    if not torch.cuda.is_available():
        return torch.device("cpu")
    if "LOCAL_RANK" not in os.environ:
        return torch.device("cuda")
    count = torch.cuda.device_count()
    if env.local_rank >= count:
        raise ValueError(f"LOCAL_RANK must be below the number of GPUs here ({count}), got {env.local_rank}: "
                         f"start at most {count} processes per machine (torchrun --nproc_per_node={count})")
    return torch.device("cuda", env.local_rank)


def start(backend: str | None = None, init_method: str | None = None) -> bool:
    """Open the process group of a ``torchrun`` launch; returns whether it opened one.

    Does nothing (returns False) for a single process or when a group is already open. Otherwise
    it first makes GPU ``LOCAL_RANK`` this process's current device (``torch.cuda.set_device``,
    which NCCL needs) and then joins the group: ``backend`` by default ``"nccl"`` with CUDA,
    ``"gloo"`` without; ``init_method`` by default torchrun's ``env://``. Close it with :func:`stop`.

    >>> start()                                   # a plain process: nothing to open
    False
    """
    env = launch()
    if env.world_size == 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if backend is not None and backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl' or 'gloo', got {backend!r}")
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed: run a single process")
    mine = device()
    if mine.type == "cuda":
        torch.cuda.set_device(mine)
    backend = backend or ("nccl" if mine.type == "cuda" else "gloo")
    dist.init_process_group(backend, init_method=init_method, rank=env.rank, world_size=env.world_size)
    return True


def stop() -> None:
    """Close the process group (what :func:`start` opened); nothing without one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def rank_zero_first():
    """A block that rank 0 runs first and the other processes after it (a barrier between):
    rank 0 downloads, decodes or caches, the others then read its files. Without a process group
    it just runs the block.

    >>> with rank_zero_first():
    ...     pass
    """
    several = is_distributed()
    if several and dist.get_rank() != 0:
        dist.barrier()
    try:
        yield
    finally:
        if several and dist.get_rank() == 0:
            dist.barrier()


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when several processes run, else ``model`` itself.

    DDP averages the gradients over the processes in the backward pass, so every process applies
    the same update and the copies stay equal. On a GPU it gets ``device_ids=[LOCAL_RANK]`` (the
    model must already be on :func:`device`); on the CPU no ``device_ids``.

    >>> net = torch.nn.Linear(2, 2)
    >>> wrap(net) is net                          # one process: unchanged
    True
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not is_distributed():
        return model
    mine = device()
    if mine.type != "cuda":
        return nn.parallel.DistributedDataParallel(model)
    if mine.index is None:                        # a group opened without torchrun: the current GPU
        mine = torch.device("cuda", torch.cuda.current_device())
    where = {p.device for p in model.parameters()}
    if where != {mine}:
        raise ValueError(f"model must be on this process's device {mine} before wrap, got {sorted(map(str, where))}")
    return nn.parallel.DistributedDataParallel(model, device_ids=[mine.index], output_device=mine.index)


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
    return _gather_function.apply(x)


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


class _GatherLocalGradOnly(torch.autograd.Function):
    """The bug, kept to show it: an all-gather whose backward returns this process's slice of
    its own gradient only, dropping what the other processes' losses owe to its embeddings."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return _GatherWithGrad.forward(ctx, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


_gather_function = _GatherWithGrad          # what gather() uses; _check_worker swaps in the bug


def _check_data(n: int, dim: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x1, x2 = (torch.randn(n, dim, generator=g, dtype=torch.float64) for _ in range(2))
    torch.manual_seed(seed + 1)
    return torch.nn.Linear(dim, 4).double(), x1, x2


def _loss_and_grads(loss_fn, net, x1, x2, **kwargs):
    net.zero_grad()
    loss = loss_fn(net(x1), net(x2), **kwargs)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()]


def _check_worker(rank: int, world: int, init: str, out: str, loss_fn, n: int, dim: int, seed: int) -> None:
    """One process of :func:`check_gather`: its shard, the gathered loss, DDP's averaged gradients,
    once with the right gather and once with the local-gradient-only one."""
    global _gather_function
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        net, x1, x2 = _check_data(n, dim, seed)
        shard = slice(rank * n // world, (rank + 1) * n // world)
        result = {}
        for name, function in (("right", _GatherWithGrad), ("local_only", _GatherLocalGradOnly)):
            _gather_function = function
            loss, grads = _loss_and_grads(loss_fn, net, x1[shard], x2[shard], gather=True)
            for g in [loss, *grads]:                    # DDP averages gradients; the loss, to report it
                dist.all_reduce(g)
                g /= world
            result[name] = {"loss": loss, "grads": grads}
        if rank == 0:
            torch.save(result, out)
    finally:
        _gather_function = _GatherWithGrad
        dist.destroy_process_group()


def check_gather(loss_fn: Callable, world_size: int = 2, n: int = 8, dim: int = 5, seed: int = 0) -> dict:
    """Run ``loss_fn`` on ``world_size`` CPU processes (gloo) and on one, and compare.

    ``loss_fn(z1, z2, gather=True)`` must be a module-level function (the processes import it),
    e.g. :func:`sslbook.losses.info_nce`. A linear layer (``dim`` -> 4, float64) embeds two views
    ``x1, x2`` (n x dim) of ``n`` samples; each process takes ``n / world_size`` of them and the
    gradients are averaged over processes, as ``DistributedDataParallel`` does. Returns
    ``loss_one`` and ``loss_many`` (the mean of the processes' losses), ``loss_gap`` (their
    difference), ``grad_scale`` (the largest gradient entry of one process), ``grad_gap`` (the
    largest difference of a gradient entry) and ``grad_gap_local_only``, the same with a gather
    that keeps only the local gradient (lightly's ``GatherLayer`` before lightly#1528).

    >>> from sslbook import losses
    >>> check_gather(losses.info_nce)["grad_gap"] < 1e-10    # doctest: +SKIP
    True
    """
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a function, got {type(loss_fn).__name__}")
    if not isinstance(world_size, int) or world_size < 2:
        raise ValueError(f"world_size must be an integer >= 2, got {world_size!r}")
    if not isinstance(n, int) or n < 2 or n % world_size:
        raise ValueError(f"n must be a multiple of world_size ({world_size}) and >= 2, got {n!r}")
    net, x1, x2 = _check_data(n, dim, seed)
    loss_one, grads_one = _loss_and_grads(loss_fn, net, x1, x2)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pt")
        mp.spawn(_check_worker, args=(world_size, f"file://{os.path.join(tmp, 'rendezvous')}", out, loss_fn,
                                      n, dim, seed), nprocs=world_size, join=True)
        result = torch.load(out, weights_only=True)

    def gap(grads):
        return max(float((a - b).abs().max()) for a, b in zip(grads, grads_one))

    return {"world_size": world_size, "loss_one": float(loss_one), "loss_many": float(result["right"]["loss"]),
            "loss_gap": abs(float(result["right"]["loss"] - loss_one)),
            "grad_scale": max(float(g.abs().max()) for g in grads_one),
            "grad_gap": gap(result["right"]["grads"]), "grad_gap_local_only": gap(result["local_only"]["grads"])}

