import json
import os
import subprocess
import sys

from conftest import ROOT


def test_concepts_benchmark_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "concepts.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "concepts.py"),
                           "--seconds", "2", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| SimCLR encoder" in proc.stdout and "| raw pixels" in proc.stdout
    result = json.loads(out.read_text())
    assert result["steps"] > 0 and set(result["results"]) == {"raw pixels", "random-init encoder", "SimCLR encoder"}
    for r in result["results"].values():
        assert 0 <= r["nmi"] <= 1 and 0 <= r["probe"] <= 1 and 0 <= r["knn"] <= 1
