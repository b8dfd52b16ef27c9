"""sslbook.checkpoints: save with a record, load safely (weights_only), train or load."""
import pickle
from pathlib import Path

import pytest
import torch

from sslbook import checkpoints, models


def test_checkpoints_round_trip_and_refuse_what_does_not_fit(tmp_path):
    net = models.SmallCNN(1, feature_dim=8)
    checkpoints.save_checkpoint(tmp_path / "sub" / "a.pt", net, steps=3, loss=[1.0, 0.5], command="x")
    other = models.SmallCNN(1, feature_dim=8)
    meta = checkpoints.load_checkpoint(tmp_path / "sub" / "a.pt", other)
    assert meta == {"steps": 3, "loss": [1.0, 0.5], "command": "x"}
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    with pytest.raises(ValueError, match="does not fit this model"):
        checkpoints.load_checkpoint(tmp_path / "sub" / "a.pt", models.SmallCNN(1, feature_dim=16))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoints.load_checkpoint(tmp_path / "missing.pt", net)
    with pytest.raises(ValueError, match=r"meta\['when'\] must be built of numbers.*got TorchVersion"):
        checkpoints.save_checkpoint(tmp_path / "b.pt", net, when=torch.__version__)
    assert not (tmp_path / "b.pt").exists()
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not an sslbook checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "list.pt", net)


class Payload:
    """An object whose unpickling could run code: weights_only loading must refuse it."""


def test_load_checkpoint_refuses_pickled_objects(tmp_path):
    torch.save({"state_dict": {}, "meta": {"x": Payload()}}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        checkpoints.load_checkpoint(tmp_path / "evil.pt", models.SmallCNN(1))


def test_train_or_load_trains_once_then_loads(tmp_path):
    calls = []

    def train_fn(model):
        calls.append(1)
        with torch.no_grad():
            model.net[0].weight.fill_(0.5)
        return {"steps": 7}

    path = tmp_path / "m.pt"
    first = models.SmallCNN(1, feature_dim=8)
    assert checkpoints.train_or_load(path, first, train_fn) == {"steps": 7, "source": "trained"}
    second = models.SmallCNN(1, feature_dim=8)
    assert checkpoints.train_or_load(path, second, train_fn) == {"steps": 7, "source": "loaded"}
    assert calls == [1] and torch.all(second.net[0].weight == 0.5)
    third = models.SmallCNN(1, feature_dim=8)
    assert checkpoints.train_or_load(None, third, train_fn)["source"] == "trained" and calls == [1, 1]
    assert checkpoints.train_or_load(tmp_path / "n.pt", third, train_fn, save=False)["source"] == "trained"
    assert not (tmp_path / "n.pt").exists()


# --- the checkpoints the package ships ------------------------------------------------
def test_shipped_checkpoints_are_package_data_of_sslbook():
    import sslbook

    folder = checkpoints.shipped()
    assert folder == Path(sslbook.__file__).parent / "weights" and folder.is_dir()
    names = {p.name for p in folder.glob("*.pt")}
    assert {"pydocs-mlm.pt", "cifar10-small-simclr.pt", "cifar10-small-moco.pt",
            "cifar10-small-supervised-1000.pt"} <= names
    assert checkpoints.shipped("cifar10-small-simclr.pt") == folder / "cifar10-small-simclr.pt"


def test_a_missing_shipped_checkpoint_names_the_command_that_remakes_it():
    with pytest.raises(FileNotFoundError, match=r"sslbook\.recipes --out .*weights --only byol"):
        checkpoints.shipped("cifar10-small-byol.pt")
    with pytest.raises(FileNotFoundError, match="reinstall sslbook"):
        checkpoints.shipped("other.pt")
    for bad in ("", "../x.pt", "a/b.pt", 3):
        with pytest.raises(ValueError, match="name must be a file name"):
            checkpoints.shipped(bad)
    assert checkpoints.remake_command("pydocs-mlm.pt", "w") == (
        "SSLBOOK_BUDGET=quick python -m sslbook.recipes --out w --only mlm")
    assert checkpoints.remake_command("cifar10-small-supervised-10.pt", "w").endswith("--only supervised-10")
    with pytest.raises(ValueError, match="name must be pydocs-mlm.pt or cifar10-ARCH-KIND.pt"):
        checkpoints.remake_command("x.pt")
