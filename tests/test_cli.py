"""The command line that trains the shipped checkpoints (sslbook.cli, run as python -m sslbook.recipes):
trained outside the validation split, learning curve and choices on it, the test split read once at the end."""
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
    assert events == ["read train", "pretrain", "pretrain", "train_supervised", "read test"]


def test_the_former_module_name_still_runs_the_command_line():
    from sslbook import project

    assert project.main is cli.main


@pytest.mark.parametrize("module", ["sslbook.recipes", "sslbook.cli"])
def test_the_command_line_runs_as_a_module(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m sslbook.recipes" in done.stdout and "--out" in done.stdout
