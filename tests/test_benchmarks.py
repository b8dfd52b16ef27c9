"""The benchmarks run end to end on a tiny budget and write their JSON."""
import json
import os
import subprocess
import sys

import pytest
import torch


def test_concepts_benchmark_prints_a_table_and_writes_json(tmp_path, root):
    out = tmp_path / "concepts.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "concepts.py"),
                           "--seconds", "2", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| SimCLR encoder" in proc.stdout and "| raw pixels" in proc.stdout
    result = json.loads(out.read_text())
    assert result["steps"] > 0 and set(result["results"]) == {"raw pixels", "random-init encoder", "SimCLR encoder"}
    for r in result["results"].values():
        assert 0 <= r["nmi"] <= 1 and 0 <= r["probe"] <= 1 and 0 <= r["knn"] <= 1


def test_cifar10_benchmark_runs_on_a_small_budget(tmp_path, root, shared_cifar10):
    out = tmp_path / "cifar10.json"
    env = {**os.environ, "SSLBOOK_CIFAR10": str(shared_cifar10)}  # the session's cache: decoded once for all tests
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "cifar10.py"), "--seconds", "2",
                           "--train-subset", "600", "--val-subset", "300", "--batch-size", "64",
                           "--throughput-steps", "2", "--workers", "0", "--augment-images", "128",
                           "--learn-steps", "2", "--learn-seeds", "0", "--minutes", "0.05", "--snapshots", "2",
                           "--fit-subset", "400", "--bank-per-class", "10", "--test-subset", "200",
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "views/s" in proc.stdout and "| SimCLR encoder (this budget) |" in proc.stdout
    result = json.loads(out.read_text())
    assert result["sections"] == ["a", "b", "c", "d"] and result["scored_on"].startswith("validation split")
    assert len(result["augmentation_views_per_s"]) == 2 and "(a') the augmentation alone" in proc.stdout
    rows = result["throughput"]
    assert [(r["precision"], r["channels_last"], r.get("compile", False)) for r in rows[1:]] == [
        ("float32", False, False), ("float32", True, False), ("bfloat16", False, False), ("bfloat16", True, False),
        ("bfloat16", True, True)]
    assert rows[0]["vs_torchvision"] == 1 and all(r["views_per_s"] > 0 for r in rows)
    assert "compile_seconds" in rows[-1] and "torch.compile:" in proc.stdout
    assert "| sslbook, bfloat16 autocast" in proc.stdout and "(c) does bfloat16 learn" in proc.stdout
    assert set(result["learns"]["runs"]) == {"float32", "bfloat16, channels-last"}
    assert {"raw pixels", "random-init encoder", "SimCLR encoder (this budget)"} <= set(result["quality"])
    assert any(name.startswith("simclr checkpoint") for name in result["quality"])  # the shipped one
    d = result["side_by_side"]
    assert len(d["recipes"]) == 2 and d["fit_images"] == 400 and d["bank_images"] == 100
    for r in d["recipes"].values():
        assert len(r["validation_curve"]) >= 1 and r["test"]["images"] == 200
        assert 0 <= r["validation"]["knn20"] <= 1 and 0 <= r["test"]["linear_probe"] <= 1
    assert set(d["ratios_book_over_standard"]) == {"views_per_s", "validation_knn20", "validation_linear_probe",
                                                   "test_knn20", "test_linear_probe"}
    assert "ratios book / standard" in proc.stdout


def benchmark_on_fake_cifar10(name, root, monkeypatch, images: int):
    """Import benchmarks/<name>.py with sslbook.cifar.cifar10 replaced by ``images`` random images that
    record which split was read; returns the module and the list of splits read."""
    import importlib

    from sslbook import cifar

    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    module = importlib.import_module(name)
    read = []
    x = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    def fake(split, root=None):
        read.append(split)
        return x, torch.arange(images) % 10

    monkeypatch.setattr(cifar, "cifar10", fake)
    return module, read


def test_the_cifar10_benchmark_reads_the_test_split_only_in_its_last_section(root, monkeypatch, tmp_path):
    """Sections (a)-(c) choose and compare on the validation split: without (d), the test split is never read."""
    bench, read = benchmark_on_fake_cifar10("cifar10", root, monkeypatch, 700)
    bench.main(["--sections", "b", "c", "--seconds", "1", "--train-subset", "200", "--val-subset", "100",
                "--batch-size", "32", "--learn-steps", "1", "--learn-seeds", "0", "--validation-size", "100",
                "--out", str(tmp_path / "b.json")])
    assert read == ["train"]


def test_chapter_times_reads_the_builds_cache(tmp_path, root):
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(tmp_path / "_build" / "quick-x" / "_build" / ".jupyter_cache"))
    for name, seconds, code in (("01_background.md", 12.5, "1"), ("05_cifar10.md", 75.0, "2")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(tmp_path / name), data={"execution_seconds": seconds}),
                                    check_validity=False)
    out = tmp_path / "times.json"
    cmd = [sys.executable, str(root / "benchmarks" / "chapter_times.py"), "--build", str(tmp_path / "_build"),
           "--out", str(out), "--strict"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr          # 05 is over the 60 s limit
    assert "| 01_background.md | 12.5 |" in proc.stdout and "over 60 s" in proc.stdout
    result = json.loads(out.read_text())
    (build,) = result["builds"].values()
    assert build["chapters"] == {"01_background.md": 12.5, "05_cifar10.md": 75.0} and build["total_s"] == 87.5


def test_tuning_never_reads_the_test_split(root, monkeypatch, tmp_path):
    """benchmarks/tune_cifar10.py makes the recipe's choices: it reads the training split only."""
    tune, read = benchmark_on_fake_cifar10("tune_cifar10", root, monkeypatch, 300)
    result = tune.main(["--steps", "1", "--seeds", "0", "1", "--crops", "0.2", "--temperatures", "0.2", "0.5",
                        "--bank-per-class", "5", "--validation-size", "50", "--out", str(tmp_path / "t.json")])
    assert read == ["train"]
    assert result["scored_on"].startswith("validation split") and result["validation_images"] == 50
    assert sum(r["current"] for r in result["rows"]) == 1 and len(result["rows"]) == 2   # the current one is in the grid
    assert all(len(r["knn_per_seed"]) == 2 and r["low"] <= r["mean"] <= r["high"] for r in result["rows"])


def test_supervised_tuning_never_reads_the_test_split(root, monkeypatch, tmp_path):
    """benchmarks/tune_supervised.py chooses the supervised baselines' settings on the validation split only."""
    tune, read = benchmark_on_fake_cifar10("tune_supervised", root, monkeypatch, 300)
    result = tune.main(["--steps", "1", "--seeds", "0", "1", "--counts", "2", "--validation-size", "50",
                        "--out", str(tmp_path / "s.json")])
    assert read == ["train"]
    assert result["scored_on"].startswith("validation split") and result["validation_images"] == 50
    table = result["counts"]["2"]
    assert len(table["rows"]) == 4 and table["article"] == "Adam 1e-3 constant, crops 0.08-1"
    assert table["best_change"] == next(r["change"] for r in table["rows"] if r["setting"] == table["best"])
    assert all(len(r["accuracy_per_seed"]) == 2 and r["low"] <= r["mean"] <= r["high"] for r in table["rows"])


def test_the_standard_recipes_lars_and_schedule(root, monkeypatch):
    """benchmarks/standard_simclr.py: LARS scales a weight's step by eta |w| / (|g| + wd |w|) (clipped at
    1 relative to the learning rate) and leaves biases alone; the schedule warms up, then decays to 0."""
    import importlib

    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    std = importlib.import_module("standard_simclr")
    w = torch.nn.Parameter(torch.full((2, 2), 3.0))           # |w| = 6
    b = torch.nn.Parameter(torch.ones(2))
    opt = std.LARS([w, b], lr=0.5, momentum=0.0, weight_decay=0.1, eta=0.02)
    w.grad, b.grad = torch.full((2, 2), 1.0), torch.full((2,), 1.0)   # |g| = 2
    opt.step()
    trust = 0.02 * 6 / (2 + 0.1 * 6)                           # below lr, so clip_lr keeps trust / lr
    expected = 3.0 - 0.5 * (trust / 0.5) * (1.0 + 0.1 * 3.0)
    assert torch.allclose(w, torch.full((2, 2), expected)) and torch.allclose(b, torch.full((2,), 0.5))
    net = torch.nn.Linear(2, 2)
    sched_opt = std.LARS(net.parameters(), lr=0.4)
    sched = std.warmup_cosine(sched_opt, steps=100, warmup=10)
    lrs = []
    for _ in range(100):
        lrs.append(sched_opt.param_groups[0]["lr"])
        sched_opt.step()
        sched.step()
    assert lrs[0] < 0.001 and max(lrs) == pytest.approx(0.4, rel=1e-3) and lrs.index(max(lrs)) == 10
    assert lrs[-1] < 0.01 and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert std.SETTINGS["temperature"] == 0.2 and std.SETTINGS["batch_size"] == 256


def test_probe_threads_benchmark_prints_a_table_and_writes_json(tmp_path, root):
    out = tmp_path / "probe_threads.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "probe_threads.py"), "--repeats", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "speed-up" in proc.stdout and "6b's TF-IDF" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 5 and all(r["default_s"] > 0 and r["one_thread_s"] > 0 for r in rows)
