"""Several processes, one contrastive batch: the pieces of torch.distributed the losses need.

Under ``torchrun`` every process holds a shard of the batch; a contrastive loss should still see
every process's negatives, so the embeddings are gathered, and the gather must carry gradients
back: each process's loss depends on every process's embeddings, so the gradient that reaches a
process's embeddings is the *sum* over processes (an all-gather that returns only the local
gradient, as lightly's ``GatherLayer`` did until lightly#1528, trains another loss than it
computes). With one process everything here is the identity. :func:`check_gather` checks a
gathered loss on a few CPU processes against one process (chapter 7, section 7.4).

The one reader of ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` (:func:`launch`); :func:`device` is GPU
``LOCAL_RANK`` under ``torchrun``; :func:`start` opens the group (NCCL on GPUs, gloo on CPUs) after
``torch.cuda.set_device``; :func:`wrap` puts a model in DDP (``device_ids=[LOCAL_RANK]`` on a GPU)::

    started = distributed.start()                 # under torchrun; False (nothing to do) otherwise
    model = distributed.wrap(model.to(distributed.device()))
    ...                                           # train; then, if started: distributed.stop()
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

try:  # PyTorch's differentiable collectives, to compare with the book's gather (check_gather)
    import torch.distributed.nn.functional as dist_nn
except ImportError:  # pragma: no cover - a build without torch.distributed
    dist_nn = None


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
    """What ``torchrun`` told this process: global ``rank``, ``local_rank`` here, ``world_size``."""

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

    A process on a bare ``cuda`` would use GPU 0, as would all the others. ``LOCAL_RANK`` beyond
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

    Nothing (False) for one process or an open group. Otherwise it makes GPU ``LOCAL_RANK`` the
    current device (``torch.cuda.set_device``, which NCCL needs), then joins: ``backend`` by default
    ``"nccl"`` with CUDA, ``"gloo"`` without; ``init_method`` by default ``env://``. See :func:`stop`.

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
    """A block that rank 0 runs first (downloads, decodes, caches) and the others after it, a
    barrier between; without a process group it just runs the block.

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

    DDP averages the gradients over the processes, so the copies stay equal. On a GPU it gets
    ``device_ids=[LOCAL_RANK]`` (the model must already be on :func:`device`); on the CPU none.

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
    """All-gather along dim 0; the backward sums the gradients over processes, returns my slice."""

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

    Every process must pass the same shape. The backward pass sums the gradients over processes
    (see the module's docstring). Without a process group it returns ``x`` itself.

    >>> gather(torch.ones(2, 3)).shape
    torch.Size([2, 3])
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ValueError(f"x must be a tensor with a batch dimension, got {type(x).__name__}")
    if not is_distributed():
        return x
    return _gather_function.apply(x)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Every process's ``x`` in rank order, without gradients (MoCo's keys); one process: ``x`` detached."""
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ValueError(f"x must be a tensor with a batch dimension, got {type(x).__name__}")
    if not is_distributed():
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts, dim=0)


class _GatherLocalGradOnly(torch.autograd.Function):
    """The bug, kept to show it: the backward keeps this process's own gradient only."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return _GatherWithGrad.forward(ctx, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


class _TorchGather:
    """PyTorch's differentiable ``torch.distributed.nn.functional.all_gather`` (deprecated in 2.14)."""

    @staticmethod
    def apply(x: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.cat(dist_nn.all_gather(x))


_gather_function = _GatherWithGrad          # what gather() uses; _check_worker swaps in the others

#: The runs of :func:`check_gather`: (name, gather, BatchNorm in the network, own views as anchors).
_VARIANTS = (("right", _GatherWithGrad, False, True), ("local_only", _GatherLocalGradOnly, False, True),
             ("torch", _TorchGather, False, True), ("batchnorm", _GatherWithGrad, True, True),
             ("all_anchors", _GatherLocalGradOnly, False, False))


def _check_data(n: int, dim: int, seed: int, batchnorm: bool = False):
    g = torch.Generator().manual_seed(seed)
    x1, x2 = (torch.randn(n, dim, generator=g, dtype=torch.float64) for _ in range(2))
    torch.manual_seed(seed + 1)
    return nn.Sequential(nn.Linear(dim, 4), *([nn.BatchNorm1d(4)] if batchnorm else [])).double().train(), x1, x2


def _loss_and_grads(loss_fn, net, x1, x2):
    net.zero_grad()
    loss = loss_fn(*net(torch.cat([x1, x2])).chunk(2))      # both views in one forward pass, as the book's steps
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()]


def _check_worker(rank: int, world: int, init: str, out: str, loss_fn, n: int, dim: int, seed: int) -> None:
    """One process of :func:`check_gather`: its shard's loss and DDP's mean gradients, per variant."""
    global _gather_function
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        shard, result = slice(rank * n // world, (rank + 1) * n // world), {}
        for name, function, batchnorm, own_anchors in _VARIANTS:
            _gather_function = function
            net, x1, x2 = _check_data(n, dim, seed, batchnorm)
            fn = ((lambda a, b: loss_fn(a, b, gather=True)) if own_anchors     # anchors: my views only
                  else (lambda a, b: loss_fn(gather(a), gather(b))))          # anchors: every view, on every process
            loss, grads = _loss_and_grads(fn, net, x1[shard], x2[shard])
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

    ``loss_fn(z1, z2, gather=True)`` must be a module-level function (e.g.
    :func:`sslbook.losses.info_nce`). A linear layer (``dim`` -> 4, float64) embeds two views
    (n x dim) of ``n`` samples; each process takes ``n / world_size`` of them and the gradients are
    averaged, as DDP does. Returns ``loss_one``, ``loss_many`` (the processes' mean), ``loss_gap``,
    ``grad_scale`` (one process's largest gradient entry), ``grad_gap`` (the largest difference of
    an entry); ``grad_gap_local_only`` for a gather that keeps only the local gradient;
    ``grad_gap_torch`` for PyTorch's ``all_gather``; ``grad_gap_all_anchors`` for the local-only
    gather when every process takes *every* view as an anchor (times world_size, which DDP's mean
    divides by); ``loss_gap_batchnorm``, ``grad_gap_batchnorm`` with a BatchNorm layer after the linear one.

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
    one = {bn: _loss_and_grads(loss_fn, *_check_data(n, dim, seed, bn)) for bn in (False, True)}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pt")
        mp.spawn(_check_worker, args=(world_size, f"file://{os.path.join(tmp, 'rendezvous')}", out, loss_fn,
                                      n, dim, seed), nprocs=world_size, join=True)
        result = torch.load(out, weights_only=True)

    def gap(name, w=1):                      # w: the factor the gradients are multiplied by first
        return max(float((w * a - b).abs().max()) for a, b in zip(result[name]["grads"], one[name == "batchnorm"][1]))

    loss_one = float(one[False][0])
    return {"world_size": world_size, "loss_one": loss_one, "loss_many": float(result["right"]["loss"]),
            "loss_gap": abs(float(result["right"]["loss"]) - loss_one),
            "grad_scale": max(float(g.abs().max()) for g in one[False][1]), "grad_gap": gap("right"),
            "grad_gap_local_only": gap("local_only"), "grad_gap_torch": gap("torch"),
            "grad_gap_all_anchors": gap("all_anchors", world_size),
            "loss_gap_batchnorm": abs(float(result["batchnorm"]["loss"] - one[True][0])),
            "grad_gap_batchnorm": gap("batchnorm")}
