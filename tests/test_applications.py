"""sslbook.applications: the three domains as features, with the shipped checkpoints."""
import pytest
import torch

from sslbook import applications, checkpoints, config


def test_vision_transfer_uses_the_shipped_encoders(root):
    f = applications.vision_transfer()   # the checkpoints sslbook ships
    assert set(f.reps) == {"raw pixels", "untrained", "SimCLR", "MoCo", "supervised (1000 labels/class)"}
    assert f.reps["SimCLR"][0].shape == (1257, 256) and f.reps["raw pixels"][1].shape == (540, 64)
    table = applications.scores(f, counts=(1, 5, 200), repeats=3)
    assert len(table["SimCLR"][5]) == 3 and len(table["SimCLR"][200]) == 1  # 200 > smallest class: every label
    curve = applications.curves(table)
    assert set(curve["SimCLR"]) == {1, 5, 200} and all(0 <= m <= 1 for m, _ in curve["SimCLR"].values())
    some = applications.vision_transfer(checkpoints.shipped(), only=("SimCLR", "untrained"))   # the same folder, named
    assert set(some.reps) == {"raw pixels", "SimCLR", "untrained"}
    assert torch.equal(some.reps["untrained"][0], f.reps["untrained"][0])   # the same seed, the same features
    with pytest.raises(ValueError, match="only must name encoders"):
        applications.vision_transfer(only=("BYOL",))
    with pytest.raises(FileNotFoundError, match="python -m sslbook.recipes"):
        applications.vision_transfer(root / "nowhere")


def test_a_missing_shipped_checkpoint_is_an_error_that_names_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "_package_folder", lambda: tmp_path)   # an install without its weights
    with pytest.raises(FileNotFoundError, match=r"recipes --out .* --only simclr"):
        applications.cifar_encoders()
    with pytest.raises(FileNotFoundError, match="--only mlm"):
        applications.language()


def test_language_features_come_from_the_shipped_model():
    f = applications.language()   # the model sslbook ships
    assert f.extra["meta"]["command"].endswith("--only mlm")   # the record of the shipped file
    assert set(f.reps) == {"TF-IDF", "TF-IDF + LSA", "untrained Transformer", "masked language model"}
    tr, te = f.reps["masked language model"]
    assert len(tr) == len(f.y_train) and len(te) == len(f.y_test) and torch.isfinite(tr).all()
    docs = f.extra["docs"]
    train_owners = {docs.owners[i] for i in docs.train_idx.tolist()}
    assert not any(docs.owners[i] in train_owners for i in f.extra["test_idx"].tolist())


def test_tabular_features_and_their_seed():
    f = applications.tabular(steps=20)
    assert f.reps["SCARF"][0].shape == (398, 64) and f.extra["run"].meta["steps"] == 20
    again = applications.tabular(steps=20, seed=config.seed(0))
    assert torch.equal(f.reps["untrained MLP"][0], again.reps["untrained MLP"][0])
    other = applications.tabular(steps=20, seed=config.seed(5))
    assert not torch.equal(f.reps["SCARF"][0], other.reps["SCARF"][0])
    assert not hasattr(applications, "verdict")   # comparisons go through sslbook.stats.paired
