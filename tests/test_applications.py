"""sslbook.applications: the three domains as features, with the shipped checkpoints."""
import pytest
import torch

from sslbook import applications, checkpoints, config, text


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
    # nothing the checkpoint read is tested on, or counted as unread (whatever this Python's split is)
    read = set(f.extra["meta"]["read"])
    for key in ("test_idx", "unread_idx"):
        assert len(f.extra[key]) > 0 and not any(text.fingerprint(docs.texts[i]) in read for i in f.extra[key].tolist())
    assert all(text.fingerprint(docs.texts[i]) in read for i in f.extra["read_idx"].tolist())


def test_language_refuses_a_checkpoint_that_does_not_record_what_it_read(tmp_path):
    blob = torch.load(checkpoints.shipped("pydocs-mlm.pt"), weights_only=True)
    del blob["meta"]["read"]
    torch.save(blob, tmp_path / "pydocs-mlm.pt")
    with pytest.raises(ValueError, match="does not record which docstrings its model read.*--only mlm"):
        applications.language(tmp_path / "pydocs-mlm.pt")


def test_tabular_features_and_their_seed():
    f = applications.tabular(steps=20)
    assert f.reps["SCARF"][0].shape == (398, 64) and f.extra["run"].meta["steps"] == 20
    again = applications.tabular(steps=20, seed=config.seed(0))
    assert torch.equal(f.reps["untrained MLP"][0], again.reps["untrained MLP"][0])
    other = applications.tabular(steps=20, seed=config.seed(5))
    assert not torch.equal(f.reps["SCARF"][0], other.reps["SCARF"][0])
    assert not hasattr(applications, "verdict")   # comparisons go through sslbook.stats.paired


def test_tuned_probe_chooses_c_inside_the_training_set_and_handles_sparse_rows():
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 8)
    x = rng.normal(size=(24, 5)) + 2 * np.eye(5)[y]
    xt, yt = rng.normal(size=(30, 5)) + 2 * np.eye(5)[np.arange(30) % 3], np.arange(30) % 3
    got = applications.tuned_probe(x, y, xt, yt)
    # the same choice by hand: L2-normalised rows, 3 stratified folds, the best mean accuracy, smallest C on ties
    unit, unit_t = x / np.linalg.norm(x, axis=1, keepdims=True), xt / np.linalg.norm(xt, axis=1, keepdims=True)
    folds = list(StratifiedKFold(3).split(unit, y))
    means = [np.mean([LogisticRegression(C=c, max_iter=2000).fit(unit[a], y[a]).score(unit[b], y[b]) for a, b in folds])
             for c in applications.CS]
    best = applications.CS[int(np.argmax(means))]
    assert got == LogisticRegression(C=best, max_iter=2000).fit(unit, y).score(unit_t, yt)
    # the test rows never change the choice: a probe of other test rows uses the same C
    one = applications.tuned_probe(x[::8], y[::8], xt, yt)   # one per class: no validation, C = 1
    assert one == LogisticRegression(C=1.0, max_iter=2000).fit(unit[::8], y[::8]).score(unit_t, yt)
    wide = np.zeros((24, 400)); wide[np.arange(24), y * 10 + np.arange(24) % 5] = 1.0   # mostly zeros: sparse path
    assert applications.tuned_probe(wide, y, wide, y) == 1.0
    with pytest.raises(ValueError, match="Cs must be"):
        applications.tuned_probe(x, y, xt, yt, Cs=(0.0,))
    with pytest.raises(ValueError, match="folds"):
        applications.tuned_probe(x, y, xt, yt, folds=1)
    with pytest.raises(ValueError, match="test_x must have 5 features"):
        applications.tuned_probe(x, y, xt[:, :4], yt)


def test_scores_take_another_probe_for_every_representation():
    f = applications.Features("toy", {"a": (torch.randn(40, 3), torch.randn(10, 3)), "b": (torch.randn(40, 2),
                              torch.randn(10, 2))}, torch.arange(40) % 2, torch.arange(10) % 2, ("x", "y"), {})
    table = applications.scores(f, counts=(2, 50), repeats=2, probe=lambda *a: 0.25)
    assert {n: {c: v.tolist() for c, v in row.items()} for n, row in table.items()} == \
        {"a": {2: [0.25, 0.25], 50: [0.25]}, "b": {2: [0.25, 0.25], 50: [0.25]}}


def test_fine_tune_trains_a_copy_and_beats_chance_on_separable_images():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 2
    x = torch.rand(40, 1, 4, 4, generator=g) * 0.1 + y.view(-1, 1, 1, 1).float()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU())
    before = [p.clone() for p in net.parameters()]
    acc = applications.fine_tune(net, x[:20], y[:20], x[20:], y[20:], steps=30, lr=1e-2, seed=0)
    assert acc == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))   # the encoder passed in is unchanged
    assert acc == applications.fine_tune(net, x[:20], y[:20], x[20:], y[20:], steps=30, lr=1e-2, seed=0)
    with pytest.raises(ValueError, match="steps"):
        applications.fine_tune(net, x, y, x, y, steps=0)
    with pytest.raises(ValueError, match="same length"):
        applications.fine_tune(net, x, y[:5], x, y)


def test_retrieval_split_is_disjoint_stratified_and_refuses_too_many():
    labels = torch.arange(100) % 4
    g, q = applications.retrieval_split(labels, 10, 5, seed=3)
    assert len(g) == 40 and len(q) == 20 and not set(g.tolist()) & set(q.tolist())
    assert labels[g].bincount().tolist() == [10] * 4 and labels[q].bincount().tolist() == [5] * 4
    again = applications.retrieval_split(labels, 10, 5, seed=3)
    assert torch.equal(g, again[0]) and torch.equal(q, again[1])
    with pytest.raises(ValueError, match="at most the size of the smallest class"):
        applications.retrieval_split(labels, 20, 6)
    with pytest.raises(ValueError, match="queries_per_class"):
        applications.retrieval_split(labels, 2, 0)
