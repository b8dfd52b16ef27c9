"""The command line that trains the shipped checkpoints (sslbook.cli, run as python -m sslbook.recipes):
trained outside the validation split, learning curve and choices on it, the test split read once at the end."""
import json
import subprocess
import sys

import pytest
import torch

from sslbook import checkpoints, cli, models, recipes


def small_images(n=64, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_main_writes_loadable_checkpoints_with_their_command(tmp_path, monkeypatch, capsys):
    tiny = recipes.Recipe(arch="small", batch_size=16, lr=1e-3, pretrain_steps={"simclr": 2, "moco": 2},
                          supervised_steps={2: 3})
    monkeypatch.setitem(recipes.RECIPES, "quick", tiny)
    x = (small_images(40) * 255).to(torch.uint8)
    y = torch.arange(40) % 10
    monkeypatch.setattr("sslbook.cifar.cifar10", lambda split, root=None: (x, y))
    monkeypatch.setattr("sslbook.cifar.VALIDATION_SIZE", 10)
    assert cli.main(["--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["cifar10-small-moco.pt", "cifar10-small-simclr.pt", "cifar10-small-supervised-2.pt"]
    meta = checkpoints.load_checkpoint(tmp_path / "cifar10-small-simclr.pt", models.encoder("small"))
    assert meta["command"] == f"SSLBOOK_BUDGET=quick python -m sslbook.recipes --out {tmp_path}"
    assert meta["steps"] == 2 and meta["budget"] == "quick"
    assert meta["track"]["step"] == [0, 1, 2] and len(meta["track"]["knn20"]) == 3   # the learning curve
    assert meta["track_on"] == "validation" and meta["images"] == 30                 # 40 less the 10 held out
    assert meta["validation"]["images"] == 10 and meta["validation"]["knn20"] == meta["track"]["knn20"][-1]
    assert meta["test"]["images"] == 40 and 0 <= meta["test"]["knn20"] <= 1
    assert meta["recipe"]["batch_size"] == 16 and meta["recipe"]["supervised_steps"] == {"2": 3}
    sup = checkpoints.load_checkpoint(tmp_path / "cifar10-small-supervised-2.pt", models.classifier("small"))
    assert sup["labels_per_class"] == 2 and sup["images"] == 20
    assert 0 <= sup["validation"]["accuracy"] <= 1 and 0 <= sup["test"]["accuracy"] <= 1
    # three runs by default, each its own label draw and seed; the first is the checkpoint
    runs = sup["runs"]
    assert [r["label_draw"] for r in runs] == [0, 1, 2] and len({r["seed"] for r in runs}) == 3
    assert runs[0]["validation"] == sup["validation"]["accuracy"] and runs[0]["test"] == sup["test"]["accuracy"]
    for r in runs:   # the test predictions, one digit per test image, agree with the recorded accuracy
        guess = torch.tensor([int(d) for d in r["test_predictions"]])
        assert len(guess) == 40 and round(float((guess == y).float().mean()), 4) == r["test"]
    assert "cifar10-small-moco.pt: 2 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--out", str(tmp_path), "--only", "byol"])


def test_main_reads_the_test_split_only_after_every_choice_is_made(tmp_path, monkeypatch):
    """The recipe's training, its learning curve and its validation scores never see a test image:
    the test split is read once, after the last training run, and only scores."""
    tiny = recipes.Recipe(arch="small", batch_size=16, lr=1e-3, pretrain_steps={"simclr": 2, "moco": 2},
                          supervised_steps={2: 3})
    monkeypatch.setitem(recipes.RECIPES, "quick", tiny)
    monkeypatch.setattr("sslbook.cifar.VALIDATION_SIZE", 10)
    train_x = (small_images(40) * 255).to(torch.uint8)
    test_x = torch.full((20, 3, 32, 32), 7, dtype=torch.uint8)      # marked: no training image is all 7s
    events = []

    def fake_cifar10(split, root=None):
        events.append(f"read {split}")
        return (train_x, torch.arange(40) % 10) if split == "train" else (test_x, torch.arange(20) % 10)

    def watch(name, real):
        def run(*args, **kwargs):
            events.append(name)
            images = args[1]
            assert not (images == 7 / 255).flatten(1).all(1).any(), f"{name} was given test images"
            return real(*args, **kwargs)
        return run

    monkeypatch.setattr("sslbook.cifar.cifar10", fake_cifar10)
    monkeypatch.setattr(recipes, "pretrain", watch("pretrain", recipes.pretrain))
    monkeypatch.setattr(recipes, "train_supervised", watch("train_supervised", recipes.train_supervised))
    assert cli.main(["--out", str(tmp_path)]) == 0
    assert events == ["read train", "pretrain", "pretrain", *["train_supervised"] * 3, "read test"]


def test_supervised_seeds_must_be_positive(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["--out", str(tmp_path), "--supervised-seeds", "0"])


def test_the_former_module_name_still_runs_the_command_line():
    from sslbook import project

    assert project.main is cli.main


@pytest.mark.parametrize("module", ["sslbook.recipes", "sslbook.cli"])
def test_the_command_line_runs_as_a_module(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m sslbook.recipes" in done.stdout and "--out" in done.stdout


def _tuning_json(tmp_path, best_crop=0.2, best_tau=0.2, lr=1e-3, benchmark="tune_cifar10", best=None):

    def row(crop, tau, mean):
        return {"setting": f"crops {crop:g}-1, tau {tau:g}, lr {lr:g}", "mean": mean, "low": mean - 0.01,
                "high": mean + 0.01, "knn_per_seed": [mean - 0.005, mean + 0.005], "current": False,
                "change": {"crop_scale": [crop, 1.0], "temperature": {"simclr": tau}, "lr": lr}}
    rows = [row(best_crop, best_tau, 0.5), row(0.08, 0.5, 0.4)]
    record = {"benchmark": benchmark, "scored_on": "validation split; the test split is never read", "steps": 8,
              "seeds": [0, 1], "fit_images": 30, "validation_images": 10, "rows": rows, "best": best or rows[0]["setting"],
              "current": rows[1]["setting"], "best_minus_current": "a: +0.10", "machine": "x86_64", "threads": 2}
    path = tmp_path / "tune.json"
    path.write_text(json.dumps(record))
    return path


def _tiny_cli(monkeypatch, crop=(0.2, 1.0), tau=0.2):
    tiny = recipes.Recipe(arch="small", batch_size=16, lr=1e-3, pretrain_steps={"simclr": 2}, supervised_steps={},
                          crop_scale=crop, temperature={"simclr": tau})
    monkeypatch.setitem(recipes.RECIPES, "quick", tiny)
    x = (small_images(40) * 255).to(torch.uint8)
    monkeypatch.setattr("sslbook.cifar.cifar10", lambda split, root=None: (x, torch.arange(40) % 10))
    monkeypatch.setattr("sslbook.cifar.VALIDATION_SIZE", 10)


def test_the_simclr_checkpoint_records_the_validation_table_it_was_chosen_by(tmp_path, monkeypatch):
    _tiny_cli(monkeypatch)
    out = tmp_path / "out"
    assert cli.main(["--out", str(out), "--chosen-by", str(_tuning_json(tmp_path))]) == 0
    meta = checkpoints.load_checkpoint(out / "cifar10-small-simclr.pt", models.encoder("small"))
    record = meta["chosen_by"]
    assert record["best"] == "crops 0.2-1, tau 0.2, lr 0.001" and record["scored_on"].startswith("validation")
    assert [r["mean"] for r in record["rows"]] == [0.5, 0.4] and record["steps"] == 8


@pytest.mark.parametrize("change, match", [({"best_crop": 0.08}, "found"), ({"benchmark": "cifar10"}, "tune_cifar10"),
                                           ({"best": "crops 0.5-1"}, "no row for its best setting")])
def test_a_tuning_record_the_recipe_did_not_follow_is_refused(tmp_path, monkeypatch, change, match):
    _tiny_cli(monkeypatch)
    with pytest.raises(ValueError, match=match):
        cli.main(["--out", str(tmp_path / "out"), "--chosen-by", str(_tuning_json(tmp_path, **change))])
    assert not (tmp_path / "out").exists()                    # refused before any training


def _supervised_json(tmp_path, best_schedule="one-cycle", counts=(2,), benchmark="tune_supervised"):
    def row(schedule, mean):
        change = {"supervised_schedule": schedule, "supervised_lr": 3e-3 if schedule == "one-cycle" else 1e-3,
                  "supervised_crop_scale": [0.08, 1.0]}
        return {"setting": f"{schedule}, crops 0.08-1", "change": change, "accuracy_per_seed": [mean, mean],
                "mean": mean, "low": mean, "high": mean, "seconds": 1.0}
    rows = [row("constant", 0.3), row("one-cycle", 0.4)]
    best = next(r for r in rows if r["change"]["supervised_schedule"] == best_schedule)
    table = {"steps": 2, "rows": rows, "best": best["setting"], "best_change": best["change"],
             "article": rows[0]["setting"], "best_minus_article": None}
    record = {"benchmark": benchmark, "scored_on": "validation split; the test split is never read", "seeds": [0, 1],
              "fit_images": 30, "validation_images": 10, "counts": {str(c): table for c in counts},
              "machine": "x86_64", "threads": 2}
    path = tmp_path / "tune_supervised.json"
    path.write_text(json.dumps(record))
    return path


def _tiny_supervised(monkeypatch, tuned):
    _tiny_cli(monkeypatch)
    tiny = recipes.RECIPES["quick"].replace(pretrain_steps={}, supervised_steps={2: 2}, supervised_tuned=tuned)
    monkeypatch.setitem(recipes.RECIPES, "quick", tiny)


def test_each_supervised_checkpoint_is_trained_with_and_records_its_tuned_settings(tmp_path, monkeypatch):
    _tiny_supervised(monkeypatch, {2: {"supervised_schedule": "one-cycle", "supervised_lr": 3e-3}})
    out = tmp_path / "out"
    args = ["--out", str(out), "--supervised-seeds", "1", "--supervised-chosen-by", str(_supervised_json(tmp_path))]
    assert cli.main(args) == 0
    meta = checkpoints.load_checkpoint(out / "cifar10-small-supervised-2.pt", models.classifier("small"))
    assert meta["schedule"] == "one-cycle" and meta["lr"] == 3e-3 and meta["crop_scale"] == [0.08, 1.0]
    record = meta["chosen_by"]
    assert record["best"] == "one-cycle, crops 0.08-1" and record["scored_on"].startswith("validation")
    assert [r["mean"] for r in record["rows"]] == [0.3, 0.4] and "counts" not in record


@pytest.mark.parametrize("tuned, kwargs, match", [({}, {}, "found"), ({2: {"supervised_schedule": "one-cycle",
                                                   "supervised_lr": 3e-3}}, {"counts": (5,)}, "no table for 2"),
                                                  ({}, {"benchmark": "tune_cifar10"}, "tune_supervised.py")])
def test_a_supervised_tuning_record_the_recipe_did_not_follow_is_refused(tmp_path, monkeypatch, tuned, kwargs, match):
    _tiny_supervised(monkeypatch, tuned)
    with pytest.raises(ValueError, match=match):
        cli.main(["--out", str(tmp_path / "out"), "--supervised-chosen-by", str(_supervised_json(tmp_path, **kwargs))])
    assert not (tmp_path / "out").exists()
