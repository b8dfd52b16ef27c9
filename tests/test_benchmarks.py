"""The benchmarks run end to end on a tiny budget and write their JSON."""
import json
import os
import subprocess
import sys


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
                           "--train-subset", "600", "--test-subset", "300", "--batch-size", "64",
                           "--throughput-steps", "2", "--workers", "0", "--augment-images", "128",
                           "--learn-steps", "2", "--learn-seeds", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "views/s" in proc.stdout and "| SimCLR encoder (this budget) |" in proc.stdout
    result = json.loads(out.read_text())
    assert len(result["augmentation_views_per_s"]) == 2 and "(a') the augmentation alone" in proc.stdout
    rows = result["throughput"]
    assert [(r["precision"], r["channels_last"]) for r in rows[1:]] == [
        ("float32", False), ("float32", True), ("bfloat16", False), ("bfloat16", True)]
    assert rows[0]["vs_torchvision"] == 1 and all(r["views_per_s"] > 0 for r in rows)
    assert "| sslbook, bfloat16 autocast" in proc.stdout and "(c) does bfloat16 learn" in proc.stdout
    assert set(result["learns"]["runs"]) == {"float32", "bfloat16, channels-last"}
    assert {"raw pixels", "random-init encoder", "SimCLR encoder (this budget)"} <= set(result["quality"])
    assert any(name.startswith("simclr checkpoint") for name in result["quality"])  # the shipped one
