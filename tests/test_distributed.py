"""Two gloo processes on the CPU against one process on the whole batch: the gathered
contrastive loss and every parameter's gradient agree (float64), and a gather that returns
only the local gradient (lightly's GatherLayer before lightly#1528) would not."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sslbook import distributed, losses

N, D, WORLD, T = 8, 5, 2, 0.5


def batch():
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(N, D, generator=g, dtype=torch.float64), torch.randn(N, D, generator=g, dtype=torch.float64)
    return x1, x2


def model():
    torch.manual_seed(1)
    return torch.nn.Linear(D, 4).double()


def one_process():
    net = model()
    x1, x2 = batch()
    loss = losses.info_nce(net(x1), net(x2), T)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in net.parameters()]


class _LocalGradOnly(torch.autograd.Function):
    """The bug: all-gather whose backward keeps only this process's part of the gradient."""

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


def worker(rank, init, out, buggy):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        if buggy:
            distributed._GatherWithGrad.apply = _LocalGradOnly.apply
        net = model()
        x1, x2 = batch()
        shard = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        loss = losses.info_nce(net(x1[shard]), net(x2[shard]), T, gather=True)
        loss.backward()
        for p in net.parameters():                  # what DistributedDataParallel does: average the gradients
            dist.all_reduce(p.grad)
            p.grad /= WORLD
        total = loss.detach().clone()
        dist.all_reduce(total)
        if rank == 0:
            torch.save({"loss": total.item() / WORLD, "grads": [p.grad for p in net.parameters()]}, out)
    finally:
        dist.destroy_process_group()


def two_processes(tmp_path, buggy=False):
    out = tmp_path / "result.pt"
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(worker, args=(init, str(out), buggy), nprocs=WORLD, join=True)
    result = torch.load(out, weights_only=True)
    return result["loss"], result["grads"]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_equal_one_process_on_the_whole_batch(tmp_path):
    loss1, grads1 = one_process()
    loss2, grads2 = two_processes(tmp_path)
    assert loss2 == pytest.approx(loss1, abs=1e-12)
    for g1, g2 in zip(grads1, grads2):
        torch.testing.assert_close(g2, g1, atol=1e-10, rtol=1e-8)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_a_gather_that_keeps_only_the_local_gradient_trains_another_loss(tmp_path):
    loss1, grads1 = one_process()
    loss2, grads2 = two_processes(tmp_path, buggy=True)
    assert loss2 == pytest.approx(loss1, abs=1e-12)           # the loss it prints is right ...
    assert any(not torch.allclose(g1, g2, atol=1e-6) for g1, g2 in zip(grads1, grads2))   # ... its gradient is not


def test_without_a_process_group_gather_is_the_identity_and_the_loss_unchanged():
    z1, z2 = batch()
    assert distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.gather(z1) is z1
    assert torch.equal(losses.info_nce(z1, z2, T, gather=True), losses.info_nce(z1, z2, T))
    with pytest.raises(ValueError, match="x must be a tensor with a batch dimension"):
        distributed.gather(3.0)


def pretrain_worker(rank, init, out, wrap=True):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        from sslbook import recipes
        if not wrap:                                         # the bug to catch: no DDP, no averaged gradients
            distributed.wrap = lambda model: model
        images = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        run = recipes.pretrain("digits", images, recipe=recipes.DIGITS.replace(batch_size=32), steps=3, progress=False)
        torch.save({"state": run.model.state_dict(), "loss": run.history.loss, "meta": run.meta}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_pretrain_on_two_processes_keeps_one_model(tmp_path):
    out = tmp_path / "run"
    mp.spawn(pretrain_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(out)), nprocs=WORLD, join=True)
    runs = [torch.load(f"{out}.{r}", weights_only=False) for r in range(WORLD)]
    assert len(runs[0]["loss"]) == 3 and all(torch.isfinite(torch.tensor(r["loss"])).all() for r in runs)
    for k, v in runs[0]["state"].items():                    # DistributedDataParallel keeps the weights equal
        if "running_" not in k and "num_batches" not in k:   # (BatchNorm's statistics stay per process)
            torch.testing.assert_close(runs[1]["state"][k], v)
    assert runs[0]["loss"] != runs[1]["loss"]                # each process drew its own share and its own views


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_without_ddp_the_two_copies_drift_apart(tmp_path):
    """The control for the test above: were pretrain not to wrap the model in DDP, each process would
    train its own copy on its own shard, and the encoders would differ after a step."""
    out = tmp_path / "run"
    mp.spawn(pretrain_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(out), False), nprocs=WORLD, join=True)
    states = [torch.load(f"{out}.{r}", weights_only=False)["state"] for r in range(WORLD)]
    assert any(not torch.allclose(states[0][k], states[1][k]) for k in states[0] if "weight" in k)


def test_only_sslbook_distributed_reads_torchruns_variables():
    import re
    from pathlib import Path

    package = Path(distributed.__file__).parent
    readers = [p.name for p in package.rglob("*.py")
               if re.search(r"[\"'](WORLD_SIZE|LOCAL_RANK|RANK)[\"']", p.read_text())]   # the names, quoted
    assert readers == ["distributed.py"]


def test_torchrun_trains_simclr_on_two_processes_and_writes_one_checkpoint(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    from sslbook import checkpoints, models
    from sslbook.cifar import CIFAR10_CLASSES
    tree = tmp_path / "cifar"
    g = torch.Generator().manual_seed(0)
    for split, per_class in (("train", 4), ("test", 2)):
        for name in CIFAR10_CLASSES:
            (tree / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
                Image.fromarray(pixels).save(tree / split / name / f"{i}.jpg")
    out = tmp_path / "out"
    env = {**os.environ, "SSLBOOK_CACHE": str(tmp_path / "cache"), "SSLBOOK_PROGRESS": "0", "SSLBOOK_BUDGET": "quick",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sslbook.recipes",
           "--out", str(out), "--only", "simclr", "--steps", "2", "--root", str(tree), "--no-track",
           "--validation-size", "10"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    written = list(out.glob("*.pt"))
    assert len(written) == 1 and done.stdout.count(".pt:") == 1          # rank 0 alone writes and reports
    meta = checkpoints.load_checkpoint(written[0], models.encoder("small"))
    assert meta["processes"] == 2 and meta["steps"] == 2
    assert meta["images"] == 30 and meta["validation"]["images"] == 10 and meta["test"]["images"] == 20


class _FixedViews:
    """Two deterministic views, so that one process and two draw the same pairs."""

    def pair(self, x, generator=None):
        return x, x.flip(1)


def moco_run(images, idx_parts, gather):
    """One MoCo step (float32) per part of the batch: loss, gradients, and the queue after it."""
    import copy

    from sslbook import models, train
    torch.manual_seed(1)
    net = torch.nn.Linear(D, 4)
    key_net = copy.deepcopy(net).requires_grad_(False)
    queue = models.FeatureQueue(64, 4)
    step = train.moco_step(net, key_net, queue, images, _FixedViews(), T, momentum=0.9, gather=gather)
    loss = step(idx_parts)
    loss.backward()
    return loss, [p.grad for p in net.parameters()], queue.features


def moco_worker(rank, init, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        images = torch.cat(batch()).float()
        share = len(images) // WORLD
        loss, grads, queue = moco_run(images, torch.arange(rank * share, (rank + 1) * share), gather=True)
        for g in grads:
            dist.all_reduce(g)
            g /= WORLD
        dist.all_reduce(loss)
        torch.save({"loss": loss.item() / WORLD, "grads": grads, "queue": queue}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_moco_on_two_processes_fills_the_queue_with_every_process_keys(tmp_path):
    out = tmp_path / "moco"
    mp.spawn(moco_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(out)), nprocs=WORLD, join=True)
    runs = [torch.load(f"{out}.{r}", weights_only=True) for r in range(WORLD)]
    images = torch.cat(batch()).float()
    loss, grads, queue = moco_run(images, torch.arange(len(images)), gather=False)
    assert len(queue) == 2 * len(images)                   # the first batch fills it, then enters it
    for run in runs:                                       # every process holds every process's keys
        torch.testing.assert_close(run["queue"], queue)
        assert run["loss"] == pytest.approx(loss.item(), rel=1e-6)
        for mine, theirs in zip(run["grads"], grads):
            torch.testing.assert_close(mine, theirs)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_check_gather_finds_the_right_gather_exact_and_the_local_gradient_one_wrong():
    result = distributed.check_gather(losses.info_nce, world_size=2)
    assert result["loss_gap"] < 1e-12 and result["grad_gap"] < 1e-10
    assert result["loss_many"] == pytest.approx(result["loss_one"], abs=1e-12)
    assert result["grad_gap_local_only"] > 1e-3 * result["grad_scale"]      # the bug is caught ...
    assert distributed._gather_function is distributed._GatherWithGrad      # ... and never leaks out of its process
    assert result["grad_gap_torch"] < 1e-10                 # PyTorch's differentiable all_gather sums too
    assert result["grad_gap_all_anchors"] < 1e-10           # every view an anchor: the local gradient is right (x W)
    assert result["loss_gap_batchnorm"] > 1e-3 * result["loss_one"]    # BatchNorm per shard: not one process
    assert result["grad_gap_batchnorm"] > 1e-3 * result["grad_scale"]


def test_check_gather_validates_its_arguments():
    with pytest.raises(ValueError, match="world_size must be an integer >= 2, got 1"):
        distributed.check_gather(losses.info_nce, world_size=1)
    with pytest.raises(ValueError, match="n must be a multiple of world_size"):
        distributed.check_gather(losses.info_nce, world_size=3, n=8)
    with pytest.raises(ValueError, match="loss_fn must be a function"):
        distributed.check_gather("info_nce")


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_syncbatchnorm_refuses_cpu_tensors_as_chapter_7_says(tmp_path):
    """Chapter 7: SyncBatchNorm synchronises only on GPU-like devices, so CPU runs keep per-process BN."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        bn = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3)))
        assert isinstance(bn[0], torch.nn.SyncBatchNorm)
        with pytest.raises(ValueError, match="SyncBatchNorm expected input tensor to be on GPU"):
            bn.train()(torch.randn(4, 3, 2, 2))
    finally:
        dist.destroy_process_group()


# ---- torchrun's variables and "which device is mine" (sslbook.distributed.launch, device, start, wrap)

class _Recorder:
    """Stands in for DistributedDataParallel: records how it was called."""

    def __init__(self, module, **kwargs):
        self.module, self.kwargs = module, kwargs


class _OnGPU(torch.nn.Module):
    """A module whose parameters claim to sit on one GPU (CUDA is mocked: no real GPU tensors)."""

    def __init__(self, index):
        super().__init__()
        self.index = index

    def parameters(self, recurse=True):
        from types import SimpleNamespace
        yield SimpleNamespace(device=torch.device("cuda", self.index))


def mocked_cuda_worker(rank, init, out):
    """One process of a 2-process torchrun launch on a machine whose CUDA is mocked as 2 GPUs:
    the process group itself is gloo on the CPU."""
    from unittest import mock
    torch.set_num_threads(1)
    calls = []
    env = {"WORLD_SIZE": str(WORLD), "RANK": str(rank), "LOCAL_RANK": str(rank)}
    with mock.patch.dict(os.environ, env), \
            mock.patch.object(torch.cuda, "is_available", lambda: True), \
            mock.patch.object(torch.cuda, "device_count", lambda: 2), \
            mock.patch.object(torch.cuda, "set_device", lambda d: calls.append(str(d))), \
            mock.patch.object(torch.nn.parallel, "DistributedDataParallel", _Recorder):
        import sslbook
        opened = distributed.start(backend="gloo", init_method=init)
        try:
            ranks = [torch.zeros(1) for _ in range(WORLD)]
            dist.all_gather(ranks, torch.tensor([float(rank)]))     # the group really works
            wrapped = distributed.wrap(_OnGPU(rank))
            try:
                distributed.wrap(_OnGPU(1 - rank))                  # a model on another process's GPU
                misplaced = ""
            except ValueError as error:
                misplaced = str(error)
            result = {"opened": opened, "device": str(sslbook.device()), "set_device": calls,
                      "launch": tuple(distributed.launch()), "gathered": [int(r) for r in ranks],
                      "device_ids": wrapped.kwargs.get("device_ids"), "misplaced": misplaced,
                      "second_start": distributed.start(backend="gloo", init_method=init)}
        finally:
            distributed.stop()
    torch.save(result, f"{out}.{rank}")


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_under_torchrun_each_process_takes_the_gpu_of_its_local_rank(tmp_path):
    out = tmp_path / "device"
    mp.spawn(mocked_cuda_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(out)), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        r = torch.load(f"{out}.{rank}", weights_only=False)
        assert r["opened"] is True and r["second_start"] is False   # opened once; a second start is a no-op
        assert r["device"] == f"cuda:{rank}"                        # cuda:0 and cuda:1, not cuda for both
        assert r["set_device"] == [f"cuda:{rank}"]                  # before the group opened, once
        assert r["launch"] == (rank, rank, WORLD) and r["gathered"] == [0, 1]
        assert r["device_ids"] == [rank]                            # DDP on this process's GPU only
        assert f"model must be on this process's device cuda:{rank}" in r["misplaced"]


def test_the_device_without_torchrun(monkeypatch):
    import sslbook
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sslbook.device() == torch.device("cpu") and distributed.launch() == (0, 0, 1)
    assert distributed.start() is False and not distributed.launched()
    net = torch.nn.Linear(2, 2)
    assert distributed.wrap(net) is net                             # one process: no DDP
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert sslbook.device() == torch.device("cuda")                 # one process: the current GPU
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert sslbook.device() == torch.device("cuda", 0)


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "two"}, r"WORLD_SIZE must be an integer >= 1 \(torchrun sets it\), got .two."),
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be an integer >= 1"),
    ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK must be an integer >= 0"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, r"RANK must be below WORLD_SIZE \(2\), got 2"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "1.5"}, "LOCAL_RANK must be an integer >= 0"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "3"}, r"LOCAL_RANK must be below WORLD_SIZE \(2\), got 3"),
])
def test_bad_torchrun_variables_are_named(monkeypatch, env, message):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.launch()
    with pytest.raises(ValueError, match=message):
        distributed.device()


def test_more_processes_than_gpus_and_bad_arguments_are_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "5")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    with pytest.raises(ValueError, match=r"LOCAL_RANK must be below the number of GPUs here \(4\), got 5"):
        distributed.device()
    with pytest.raises(ValueError, match="backend must be 'nccl' or 'gloo', got 'mpi'"):
        distributed.start(backend="mpi")
    with pytest.raises(ValueError, match="model must be a torch.nn.Module, got str"):
        distributed.wrap("resnet18")


def rank_zero_first_worker(rank, init, out):
    import time
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        with distributed.rank_zero_first():
            if rank == 0:
                time.sleep(0.5)
                (out / "written").write_text("rank 0")
            else:
                seen = (out / "written").read_text()           # rank 0's file is already there
                (out / "seen").write_text(seen)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_rank_zero_first_lets_the_others_read_what_rank_zero_wrote(tmp_path):
    mp.spawn(rank_zero_first_worker, args=(f"file://{tmp_path / 'rendezvous'}", tmp_path), nprocs=WORLD, join=True)
    assert (tmp_path / "seen").read_text() == "rank 0"
