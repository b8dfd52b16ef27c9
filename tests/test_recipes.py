"""sslbook.recipes (training recipes, pretrain, train_supervised, the command line) and the checkpoints the book ships."""
import glob
import os
import platform

import pytest
import torch

from sslbook import checkpoints, cifar, models, recipes

SHIPPED = str(checkpoints.shipped())  # sslbook/weights, package data; parametrize needs the path at collection


def test_recipes():
    assert recipes.recipe("quick").arch == "small" and recipes.recipe("full").arch == "resnet18"
    assert recipes.recipe() is recipes.RECIPES["quick"]  # the tests run in the quick budget
    with pytest.raises(ValueError, match="budget must be one of"):
        recipes.recipe("huge")
    assert recipes.checkpoint_name("simclr", "small") == "cifar10-small-simclr.pt"


def small_images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g)


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_pretrain_trains_the_encoder_in_place_and_describes_the_run(method):
    enc = models.encoder("small")
    before = [p.clone() for p in enc.parameters()]
    run = recipes.pretrain(enc, small_images(), method, recipes.recipe().replace(batch_size=16), steps=3,
                           progress=False)
    meta = run.meta
    assert run.model.encoder is enc and run.history.steps == 3
    assert meta["steps"] == 3 and meta["method"] == method and meta["epochs"] == 0.75
    assert len(meta["loss"]) == 3 and all(v == v for v in meta["loss"])
    assert meta["temperature"] == recipes.recipe().temperature_for(method) == {"simclr": 0.2, "moco": 0.2}[method]
    assert any(not torch.equal(a, b) for a, b in zip(before, enc.parameters()))
    assert not enc.training and next(enc.parameters()).device.type == "cpu"


def test_pretrain_records_its_precision_and_a_learning_curve():
    calls = []

    def track(encoder):
        assert not encoder.training                      # measured in evaluation mode
        calls.append(1)
        return {"score": float(len(calls))}

    rec = recipes.recipe().replace(batch_size=16, precision="bfloat16", channels_last=True)
    enc = models.encoder("small")
    run = recipes.pretrain(enc, small_images(), "simclr", rec, steps=5, track=track, track_every=2, progress=False)
    assert run.meta["precision"] == "bfloat16" and run.meta["channels_last"] is True
    assert run.meta["track"] == {"step": [0, 2, 4, 5], "score": [1.0, 2.0, 3.0, 4.0]}
    assert all(p.is_contiguous() for p in enc.parameters())          # handed back in the usual layout
    assert recipes.pretrain("digits", torch.rand(32, 1, 8, 8), "simclr", recipes.DIGITS.replace(batch_size=8),
                            steps=1, progress=False).meta["precision"] == "float32"
    with pytest.raises(ValueError, match="track must be a function of the encoder"):
        recipes.pretrain("small", small_images(), steps=1, track=3)
    with pytest.raises(ValueError, match="track_every must be"):
        recipes.pretrain("small", small_images(), steps=1, track=track, track_every=0)


def test_the_knn_tracker_votes_as_scikit_learn_does():
    from sslbook import evaluate
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 3, 1, 1, generator=g)
    y = torch.arange(200) % 4
    x = centres[y] + 0.8 * torch.randn(200, 3, 8, 8, generator=g)
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 16))
    track = recipes.knn_tracker(x[:120], y[:120], x[120:], y[120:], k=7, batch_size=50)
    with torch.no_grad():
        h = enc(x)
    expected = evaluate.knn_accuracy(h[:120], y[:120], h[120:], y[120:], k=7, metric="cosine")
    assert track(enc) == {"knn7": pytest.approx(expected, abs=1e-4)}
    assert 0.5 < expected < 1                           # a case where the vote matters
    with pytest.raises(ValueError, match="k must be at most the number of training images"):
        recipes.knn_tracker(x[:5], y[:5], x, y, k=6)
    # the same vote on features computed once (benchmarks/cifar10.py scores kNN and a probe on them)
    assert recipes.knn_vote(h[:120], y[:120], h[120:], y[120:], k=7) == track(enc)["knn7"]
    with pytest.raises(ValueError, match="k must be at most the number of training features"):
        recipes.knn_vote(h[:5], y[:5], h, y, k=6)
    with pytest.raises(ValueError, match="k"):
        recipes.knn_vote(h[:5], y[:5], h, y, k=0)


def test_the_default_seed_is_the_books_seed(monkeypatch):
    """seed=None means sslbook.seed(0): SSLBOOK_SEED=1 gives the run of seed 1000, not that of seed 0."""
    def weights(fn, **kwargs):
        return [p.detach().clone() for p in fn(**kwargs).parameters()]

    def pretrained(**kwargs):
        return recipes.pretrain("digits", torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)),
                                recipe=recipes.DIGITS.replace(batch_size=16), steps=2, progress=False,
                                **kwargs).model

    def supervised(**kwargs):
        torch.manual_seed(5)                                   # the same initial weights every time
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
        recipes.train_supervised(net, torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)),
                                 torch.arange(16) % 2, recipes.DIGITS.replace(batch_size=8), steps=2,
                                 progress=False, **kwargs)
        return net

    for fn in (pretrained, supervised):
        monkeypatch.delenv("SSLBOOK_SEED", raising=False)
        default_0, seed_0 = weights(fn), weights(fn, seed=0)
        monkeypatch.setenv("SSLBOOK_SEED", "1")
        default_1, seed_1000 = weights(fn), weights(fn, seed=1000)
        assert all(torch.equal(a, b) for a, b in zip(default_0, seed_0))
        assert all(torch.equal(a, b) for a, b in zip(default_1, seed_1000))
        assert any(not torch.equal(a, b) for a, b in zip(default_0, default_1))


def test_pretrain_puts_the_model_on_this_processes_device_and_wraps_it(monkeypatch):
    from sslbook import distributed
    wrapped = []
    monkeypatch.setattr(distributed, "wrap", lambda model: wrapped.append(model) or model)
    monkeypatch.setattr(distributed, "device", lambda: torch.device("cpu"))
    run = recipes.pretrain("digits", torch.rand(32, 1, 8, 8), recipe=recipes.DIGITS.replace(batch_size=16), steps=1,
                           progress=False)
    assert wrapped == [run.model]                              # DDP's place: sslbook.distributed.wrap


def test_pretrain_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        recipes.pretrain(models.encoder("small"), small_images(), "byol", steps=1)
    with pytest.raises(ValueError, match="steps must be given"):
        recipes.pretrain("digits", torch.rand(8, 1, 8, 8), "simclr", recipes.DIGITS)
    with pytest.raises(ValueError, match="arch must be one of"):
        recipes.pretrain("vit", small_images(), steps=1)
    with pytest.raises(ValueError, match="images"):
        recipes.pretrain(models.encoder("small"), small_images().to(torch.uint8), steps=1)
    with pytest.raises(ValueError, match="steps"):
        recipes.pretrain(models.encoder("small"), small_images(), steps=0)


def test_train_supervised_rejects_bad_arguments():
    y = torch.arange(8) % 2
    with pytest.raises(ValueError, match="lr must be"):
        recipes.recipe().replace(lr=0)
    with pytest.raises(ValueError, match="views must be one of"):
        recipes.Recipe(arch="small", batch_size=8, lr=1e-3, views="imagenet")
    with pytest.raises(ValueError, match="steps must be"):
        recipes.train_supervised(models.classifier("small"), small_images(8), y, steps=0)
    with pytest.raises(ValueError, match="same length"):
        recipes.train_supervised(models.classifier("small"), small_images(8), y[:5], steps=1)
    with pytest.raises(ValueError, match="supervised_schedule must be one of"):
        recipes.recipe().replace(supervised_schedule="cosine")
    with pytest.raises(ValueError, match="supervised_crop_scale must be"):
        recipes.recipe().replace(supervised_crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match=r"supervised_tuned\[10\] may change only"):
        recipes.recipe().replace(supervised_tuned={10: {"lr": 1e-2}})


def test_for_labels_applies_the_settings_tuned_for_that_count_only():
    rec = recipes.recipe().replace(supervised_tuned={10: {"supervised_schedule": "one-cycle", "supervised_lr": 3e-3}})
    at10, at100 = rec.for_labels(10), rec.for_labels(100)
    assert (at10.supervised_schedule, at10.supervised_lr) == ("one-cycle", 3e-3)
    assert (at100.supervised_schedule, at100.supervised_lr) == (rec.supervised_schedule, rec.supervised_lr)


@pytest.mark.parametrize("schedule", recipes.SUPERVISED_SCHEDULES)
def test_train_supervised_records_the_schedule_and_crops_it_used(schedule):
    rec = recipes.recipe().replace(batch_size=8, supervised_schedule=schedule, supervised_crop_scale=(0.2, 1.0))
    meta = recipes.train_supervised(models.classifier("small"), small_images(8), torch.arange(8) % 2, rec,
                                    steps=3, progress=False)
    assert meta["schedule"] == schedule and meta["crop_scale"] == [0.2, 1.0] and len(meta["loss"]) == 3


def test_train_supervised_learns_a_separable_task():
    # Class 0 is red, class 1 is blue: a network that learns anything learns this.
    x = torch.zeros(64, 3, 32, 32)
    y = torch.arange(64) % 2
    x[y == 0, 0] = 1.0
    x[y == 1, 2] = 1.0
    net = models.classifier("small", num_classes=2)
    meta = recipes.train_supervised(net, x, y, recipes.recipe().replace(batch_size=32), steps=30, progress=False)
    assert meta["method"] == "supervised" and meta["steps"] == 30
    with torch.no_grad():
        assert (net(x).argmax(1) == y).float().mean().item() == 1.0


# --- the checkpoints in the repository -----------------------------------------------

def shipped():
    return sorted(glob.glob(os.path.join(SHIPPED, "cifar10-*.pt")))


def test_the_book_ships_small_checkpoints_for_every_kind_of_the_quick_recipe():
    rec = recipes.recipe("quick")
    kinds = [*rec.pretrain_steps, *(f"supervised-{c}" for c in rec.supervised_steps)]
    names = {os.path.basename(p) for p in shipped()}
    assert names == {recipes.checkpoint_name(k, rec.arch) for k in kinds}
    every = glob.glob(os.path.join(SHIPPED, "*.pt"))
    assert {os.path.basename(p) for p in every} == names | {"pydocs-mlm.pt"}
    total = sum(os.path.getsize(p) for p in every)
    assert total < 16 * 2**20, f"shipped checkpoints take {total / 2**20:.1f} MB"


def test_the_shipped_language_model_matches_its_recipe():
    from sslbook import domains

    model, vocab, meta = domains.load_language(os.path.join(SHIPPED, "pydocs-mlm.pt"))
    assert meta["command"] == "SSLBOOK_BUDGET=quick python -m sslbook.recipes --out chapters/checkpoints --only mlm"
    assert meta["steps"] == domains.LANGUAGE.steps == len(meta["loss"]) and len(vocab) <= domains.LANGUAGE.vocab_size
    # it records what it read; on the Python that made it, that is exactly this code's pre-training text
    from sslbook import text
    docs = text.python_docs()
    if meta["python"] == platform.python_version():
        pre = set(docs.pretraining)
        assert set(meta["read"]) == {text.fingerprint(t) for t in docs.texts if t in pre}
        # (not the vocabulary: the other modules' docstrings, part of its text, change with what a process
        # has imported, so a test run's corpus can differ from a fresh kernel's by a few words)
    assert sum(meta["loss"][-100:]) / 100 < sum(meta["loss"][:100]) / 100 - 1  # it learned


@pytest.mark.parametrize("path", shipped(), ids=os.path.basename)
def test_each_shipped_checkpoint_loads_safely_and_matches_the_recipe_in_the_code(path):
    rec = recipes.recipe("quick")
    kind = os.path.basename(path)[len("cifar10-small-"):-3]
    model = models.classifier("small") if kind.startswith("supervised") else models.encoder("small")
    meta = checkpoints.load_checkpoint(path, model)  # torch.load(weights_only=True) inside
    assert meta["command"].startswith("SSLBOOK_BUDGET=quick python -m sslbook.recipes --out ")
    assert meta["budget"] == "quick" and meta["arch"] == "small" and meta["seconds"] > 0
    expected = rec.supervised_steps[int(kind.split("-")[1])] if kind.startswith("supervised") else rec.pretrain_steps[kind]
    assert meta["steps"] == expected, "the checkpoint was made with other settings than the recipe in the code"
    assert len(meta["loss"]) == meta["steps"]
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
    assert meta["precision"] in ("float32", "bfloat16") and meta["channels_last"] == rec.channels_last
    # made outside the validation split, scored there, and once on the test split
    assert meta["images"] == 50_000 - cifar.VALIDATION_SIZE or kind.startswith("supervised")
    assert meta["validation"]["images"] == cifar.VALIDATION_SIZE and meta["test"]["images"] == 10_000
    if kind == "simclr":                             # the validation table that chose its crops and temperature
        assert "--chosen-by benchmarks/results/tune_cifar10.json" in meta["command"]
        chosen = meta["chosen_by"]
        assert "validation" in chosen["scored_on"] and chosen["best"] in [r["setting"] for r in chosen["rows"]]
    if kind.startswith("supervised"):                # tuned on validation; several runs with their test predictions
        tuned = rec.for_labels(int(kind.split("-")[1]))
        assert (meta["schedule"], meta["lr"]) == (tuned.supervised_schedule, tuned.supervised_lr)
        assert meta["crop_scale"] == list(tuned.supervised_crop_scale)
        assert "--supervised-chosen-by benchmarks/results/tune_supervised.json" in meta["command"]
        assert meta["chosen_by"]["best"] in [r["setting"] for r in meta["chosen_by"]["rows"]]
        assert len(meta["runs"]) >= 3 and all(len(r["test_predictions"]) == 10_000 for r in meta["runs"])
    else:                                            # the learning curve, on the validation split
        assert meta["track_on"] == "validation"
        curve = meta["track"]
        assert curve["step"] == [i * meta["steps"] // recipes.TRACK_POINTS for i in range(recipes.TRACK_POINTS + 1)]
        assert curve["knn20"][-1] > curve["knn20"][0] + 0.15


def test_the_full_recipe_is_resnet18_for_about_200_epochs_and_its_code_path_runs():
    full = recipes.recipe("full")
    epochs = full.pretrain_steps["simclr"] * full.batch_size / 50_000
    assert full.arch == "resnet18" and 195 <= epochs <= 205
    assert max(full.supervised_steps) == 5000  # every training label, in the full budget only
    # One step of each kind with ResNet-18 on the CPU: the GPU run uses the same code.
    enc = models.encoder("resnet18")
    tiny = full.replace(batch_size=4, queue_size=8)
    meta = recipes.pretrain(enc, small_images(8), "moco", tiny, steps=1, progress=False).meta
    assert meta["steps"] == 1 and enc(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    net = models.classifier("resnet18")
    assert recipes.train_supervised(net, small_images(8), torch.arange(8) % 10 % 2, tiny, steps=1,
                                    progress=False)["steps"] == 1
