"""sslbook.applications: the three domains as features, with the shipped checkpoints."""
import pytest
import torch

from sslbook import applications


def test_vision_transfer_uses_the_shipped_encoders(root):
    f = applications.vision_transfer(root / "chapters" / "checkpoints")
    assert set(f.reps) == {"raw pixels", "untrained", "SimCLR", "MoCo", "supervised (1000 labels/class)"}
    assert f.reps["SimCLR"][0].shape == (1257, 256) and f.reps["raw pixels"][1].shape == (540, 64)
    curve = applications.curves(f, counts=(1, 5), repeats=2)
    assert set(curve["SimCLR"]) == {1, 5} and all(0 <= m <= 1 for m, _ in curve["SimCLR"].values())
    with pytest.raises(FileNotFoundError, match="python -m sslbook.recipes"):
        applications.vision_transfer(root / "nowhere")


def test_language_features_come_from_the_shipped_model(root):
    f = applications.language(root / "chapters" / "checkpoints" / "pydocs-mlm.pt")
    assert set(f.reps) == {"TF-IDF", "untrained Transformer", "masked language model"}
    tr, te = f.reps["masked language model"]
    assert len(tr) == len(f.y_train) and len(te) == len(f.y_test) and torch.isfinite(tr).all()


def test_tabular_and_verdict():
    f = applications.tabular(steps=20)
    assert f.reps["SCARF"][0].shape == (398, 64) and f.extra["run"].meta["steps"] == 20
    assert applications.verdict(0.9, 0.02, 0.85, 0.02, 10) == "a"
    assert applications.verdict(0.85, 0.02, 0.9, 0.02, 10) == "b"
    assert applications.verdict(0.9, 0.2, 0.85, 0.2, 10) == "tie"
    with pytest.raises(ValueError, match="repeats"):
        applications.verdict(0.9, 0.1, 0.8, 0.1, 0)
