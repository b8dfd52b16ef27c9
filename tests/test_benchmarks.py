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
