"""benchmarks/gpu.py without a GPU: it refuses to start, validates its options, plans its schedule by
steps from a measured rate, and its training loop runs on the CPU, alone and as two gloo processes."""
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def load():
    """benchmarks/gpu.py as a module (its folder on the path, for _common)."""
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_recipe():
    from sslbook import recipes
    return recipes.recipe("full").replace(arch="small", batch_size=16, out_dim=16)


def test_it_refuses_to_start_without_cuda():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}         # no GPU, even on a machine with one
    done = subprocess.run([sys.executable, str(SCRIPT), "--minutes", "1"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 1
    assert "torch.cuda.is_available() is False" in done.stderr and "benchmarks/cifar10.py" in done.stderr
    assert "Traceback" not in done.stderr and "wrote" not in done.stdout


def test_it_refuses_in_process_too(monkeypatch, capsys, tmp_path):
    gpu = load()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--out", str(tmp_path / "gpu.json")]) == 1
    assert gpu.NO_CUDA in capsys.readouterr().err and not (tmp_path / "gpu.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--minutes", "0"], "--minutes must be a positive number of minutes, got 0.0"),
    (["--minutes", "-2"], "--minutes must be a positive number of minutes, got -2.0"),
    (["--minutes", "nan"], "--minutes must be a positive number of minutes, got nan"),
    (["--minutes", "five"], "argument --minutes: invalid float value: 'five'"),
    (["--warmup-steps", "3"], "--warmup-steps must be at least 4"),
    (["--warmup-steps", "2.5"], "argument --warmup-steps: invalid int value"),
])
def test_its_options_are_validated_before_anything_runs(capsys, argv, message):
    gpu = load()
    with pytest.raises(SystemExit) as stop:
        gpu.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_the_defaults_are_the_settings_at_the_top():
    gpu = load()
    args = gpu.parse([])
    assert (args.minutes, args.warmup_steps, args.compile) == (gpu.MINUTES, gpu.WARMUP_STEPS, False)
    assert args.out.endswith(os.path.join("benchmarks", "results", "gpu.json"))
    assert gpu.parse(["--compile", "--minutes", "0.5"]).compile is True


def test_planned_steps_is_the_rate_times_the_time_left_with_a_margin():
    gpu = load()
    assert gpu.planned_steps(100.0, 2.0, margin=1.0) == 200
    assert gpu.planned_steps(100.0, 2.0, margin=0.9) == 180
    assert gpu.planned_steps(300, 9.7) == math.floor(300 * 9.7 * gpu.MARGIN)
    assert gpu.planned_steps(0.01, 0.5) == 1                  # never zero steps
    for bad, message in ((0, "seconds_left must be a finite number > 0, got 0"),
                         (float("inf"), "seconds_left must be a finite number > 0, got inf")):
        with pytest.raises(ValueError, match=message):
            gpu.planned_steps(bad, 1.0)
    with pytest.raises(ValueError, match="steps_per_second must be a finite number > 0, got -1"):
        gpu.planned_steps(10, -1)
    with pytest.raises(ValueError, match=r"margin must be in \(0, 1\], got 1.5"):
        gpu.planned_steps(10, 1, margin=1.5)


def test_adamw_at_learning_rate_zero_changes_no_weight():
    """What the warm-up relies on: its steps measure the rate and leave the weights as they were."""
    w = torch.nn.Parameter(torch.randn(5))
    before = w.detach().clone()
    opt = torch.optim.AdamW([w], lr=0.0, weight_decay=0.1)
    for _ in range(3):
        (w ** 2).sum().backward()
        opt.step()
    assert torch.equal(w.detach(), before)


def test_the_training_loop_runs_on_the_cpu_and_completes_its_schedule():
    gpu = load()
    torch.manual_seed(0)
    images = torch.rand(64, 3, 32, 32)
    rec = tiny_recipe()
    model, result = gpu.run(images, rec, torch.device("cpu"), minutes=0.03, warmup_steps=4)
    assert result["processes"] == 1 and result["steps"] >= 1 and result["warmup_steps"] == 4
    assert result["epochs"] == round(result["steps"] * 16 / 64, 2) and result["views_per_s"] > 0
    assert result["loss"] and all(math.isfinite(v) for v in result["loss"])
    # The one-cycle schedule ran to its end: its last rate is max_lr / div_factor / final_div_factor.
    assert result["last_step_lr"] == pytest.approx(rec.lr / 25 / 1e4, rel=1e-6)
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert result["seconds_with_warmup"] < 0.03 * 60 + 30      # planned from the rate, not run open-ended


def two_process_worker(rank, init, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        gpu = load()
        images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        model, result = gpu.run(images, tiny_recipe(), torch.device("cpu"), minutes=0.03, warmup_steps=4)
        torch.save({"result": result, "state": model.state_dict()}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_under_two_processes_they_plan_the_same_steps_and_keep_one_model(tmp_path):
    out = tmp_path / "run"
    mp.spawn(two_process_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(out)), nprocs=2, join=True)
    runs = [torch.load(f"{out}.{r}", weights_only=False) for r in range(2)]
    a, b = (r["result"] for r in runs)
    assert a["processes"] == b["processes"] == 2
    assert a["steps"] == b["steps"] and a["views_per_s"] == b["views_per_s"]   # one plan; views/s summed
    mine = [2 * 8 * r["steps"] / r["train_seconds"] for r in (a, b)]          # each process: 8 images a step
    assert a["views_per_s"] == pytest.approx(sum(mine), rel=1e-2)
    for k, v in runs[0]["state"].items():                 # DistributedDataParallel: the same weights
        if "running_" not in k and "num_batches" not in k:
            torch.testing.assert_close(runs[1]["state"][k], v)


def test_main_on_a_mocked_gpu_prints_views_per_second_and_knn_and_writes_json(monkeypatch, capsys, tmp_path):
    """main's own code (data, evaluation, report) with CUDA mocked and the CPU standing in for the GPU."""
    import json

    from sslbook import cifar, distributed, recipes
    gpu = load()
    g = torch.Generator().manual_seed(0)
    splits = {s: ((torch.rand(n, 3, 32, 32, generator=g) * 255).to(torch.uint8), torch.arange(n) % 10)
              for s, n in (("train", 64), ("test", 30))}
    answers = iter([True])           # main's check sees a GPU; later callers (AdamW's own checks) see none
    monkeypatch.setattr(torch.cuda, "is_available", lambda: next(answers, False))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Mocked GPU")
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)   # restored after
    monkeypatch.setattr(distributed, "device", lambda: torch.device("cpu"))
    monkeypatch.setattr(cifar, "cifar10", lambda split, root=None: splits[split])
    monkeypatch.setitem(recipes.RECIPES, "full", tiny_recipe())
    out = tmp_path / "gpu.json"
    assert gpu.main(["--minutes", "0.02", "--warmup-steps", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 x Mocked GPU" in printed and "views/s" in printed and "kNN (k=20)" in printed
    result = json.loads(out.read_text())
    assert result["benchmark"] == "gpu" and result["recipe"] == "full" and result["gpu"] == "Mocked GPU"
    assert 0 <= result["knn20"] <= 1 and result["views_per_s"] > 0 and result["steps"] >= 1
    assert result["settings"]["arch"] == "small" and result["train_images"] == 64 and result["test_images"] == 30
