"""sslbook.applications: the three domains as features, with the shipped checkpoints."""
import pytest
import torch

from sslbook import applications


def test_vision_transfer_uses_the_shipped_encoders(root):
    f = applications.vision_transfer(root / "chapters" / "checkpoints")
    assert set(f.reps) == {"raw pixels", "untrained", "SimCLR", "MoCo", "supervised (1000 labels/class)"}
    assert f.reps["SimCLR"][0].shape == (1257, 256) and f.reps["raw pixels"][1].shape == (540, 64)
    table = applications.scores(f, counts=(1, 5, 200), repeats=3)
    assert len(table["SimCLR"][5]) == 3 and len(table["SimCLR"][200]) == 1  # 200 > smallest class: every label
    curve = applications.curves(table)
    assert set(curve["SimCLR"]) == {1, 5, 200} and all(0 <= m <= 1 for m, _ in curve["SimCLR"].values())
    with pytest.raises(FileNotFoundError, match="python -m sslbook.recipes"):
        applications.vision_transfer(root / "nowhere")


def test_language_features_come_from_the_shipped_model(root):
    f = applications.language(root / "chapters" / "checkpoints" / "pydocs-mlm.pt")
    assert set(f.reps) == {"TF-IDF", "TF-IDF + LSA", "untrained Transformer", "masked language model"}
    tr, te = f.reps["masked language model"]
    assert len(tr) == len(f.y_train) and len(te) == len(f.y_test) and torch.isfinite(tr).all()
    docs = f.extra["docs"]
    train_owners = {docs.owners[i] for i in docs.train_idx.tolist()}
    assert not any(docs.owners[i] in train_owners for i in f.extra["test_idx"].tolist())


def test_tabular_and_paired_verdict():
    f = applications.tabular(steps=20)
    assert f.reps["SCARF"][0].shape == (398, 64) and f.extra["run"].meta["steps"] == 20
    assert applications.verdict([0.9, 0.8, 0.7], [0.88, 0.77, 0.69]) == "a"   # small but consistent
    assert applications.verdict([0.88, 0.77, 0.69], [0.9, 0.8, 0.7]) == "b"
    assert applications.verdict([0.9, 0.6, 0.8], [0.7, 0.9, 0.75]) == "tie"
    assert applications.verdict([0.9, 0.8], [0.85, 0.75], margin=0.1) == "tie"
    with pytest.raises(ValueError, match="paired 1-D sequences"):
        applications.verdict([0.9, 0.8], [0.9])
