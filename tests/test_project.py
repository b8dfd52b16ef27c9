"""sslbook.project (chapter 5's recipes and command line) and the checkpoints the book ships."""
import glob
import os

import pytest
import torch

from sslbook import project, train

from conftest import ROOT

SHIPPED = os.path.join(ROOT, "chapters", "checkpoints")


def test_encoders_and_classifier_shapes():
    assert project.encoder("small")(torch.rand(3, 3, 32, 32)).shape == (3, 256)
    assert project.classifier("small")(torch.rand(3, 3, 32, 32)).shape == (3, 10)
    assert project.encoder("resnet18").feature_dim == 512
    with pytest.raises(ValueError, match="arch must be one of"):
        project.encoder("vit")


def test_article_cnn_parameters_follow_the_input_size():
    for size in (32, 224):
        net = project.ArticleCNN(size)
        assert net(torch.rand(2, 3, size, size)).shape == (2, 10)
        fc1 = net.head[0]
        assert fc1.weight.shape == (128, 16 * (size // 2) ** 2)
    # 224 x 224: the first linear layer alone has 25.7 M parameters, 32 x 32: 0.52 M.
    assert sum(p.numel() for p in project.ArticleCNN(224).head[0].parameters()) == 25_690_240
    assert sum(p.numel() for p in project.ArticleCNN(32).head[0].parameters()) == 524_416


@pytest.mark.parametrize("size,match", [(31, "size must be even"), (0, "size must be")])
def test_article_cnn_rejects_bad_sizes(size, match):
    with pytest.raises(ValueError, match=match):
        project.ArticleCNN(size)


def test_article_cnn_rejects_the_wrong_input_size():
    with pytest.raises(ValueError, match=r"x must be N x 3 x 224 x 224, got shape \(1, 3, 32, 32\)"):
        project.ArticleCNN(224)(torch.rand(1, 3, 32, 32))


def test_recipes():
    assert project.recipe("quick").arch == "small" and project.recipe("full").arch == "resnet18"
    assert project.recipe() is project.RECIPES["quick"]  # the tests run in the quick budget
    with pytest.raises(ValueError, match="budget must be one of"):
        project.recipe("huge")
    assert project.checkpoint_name("simclr", "small") == "cifar10-small-simclr.pt"


def small_images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g)


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_pretrain_trains_the_encoder_in_place_and_describes_the_run(method):
    enc = project.encoder("small")
    before = [p.clone() for p in enc.parameters()]
    meta = project.pretrain(enc, small_images(), method, steps=3, batch_size=16, progress=False)
    assert meta["steps"] == 3 and meta["method"] == method and meta["epochs"] == 0.75
    assert len(meta["loss"]) == 3 and all(v == v for v in meta["loss"])
    assert meta["temperature"] == {"simclr": 0.5, "moco": 0.2}[method]
    assert any(not torch.equal(a, b) for a, b in zip(before, enc.parameters()))
    assert not enc.training and next(enc.parameters()).device.type == "cpu"


def test_pretrain_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        project.pretrain(project.encoder("small"), small_images(), "byol", steps=1)
    with pytest.raises(ValueError, match="images"):
        project.pretrain(project.encoder("small"), small_images().to(torch.uint8), steps=1)
    with pytest.raises(ValueError, match="steps"):
        project.pretrain(project.encoder("small"), small_images(), steps=0)


def test_train_supervised_rejects_bad_arguments():
    y = torch.arange(8) % 2
    with pytest.raises(ValueError, match="lr must be"):
        project.train_supervised(project.classifier("small"), small_images(8), y, steps=1, lr=0)
    with pytest.raises(ValueError, match="same length"):
        project.train_supervised(project.classifier("small"), small_images(8), y[:5], steps=1)


def test_train_supervised_learns_a_separable_task():
    # Class 0 is red, class 1 is blue: a network that learns anything learns this.
    x = torch.zeros(64, 3, 32, 32)
    y = torch.arange(64) % 2
    x[y == 0, 0] = 1.0
    x[y == 1, 2] = 1.0
    net = project.classifier("small", num_classes=2)
    meta = project.train_supervised(net, x, y, steps=30, batch_size=32, progress=False)
    assert meta["method"] == "supervised" and meta["steps"] == 30
    with torch.no_grad():
        assert (net(x).argmax(1) == y).float().mean().item() == 1.0


def test_main_writes_loadable_checkpoints_with_their_command(tmp_path, monkeypatch, capsys):
    tiny = project.Recipe(arch="small", batch_size=16, lr=1e-3, pretrain_steps={"simclr": 2, "moco": 2},
                          supervised_steps={2: 3})
    monkeypatch.setitem(project.RECIPES, "quick", tiny)
    x = (small_images(40) * 255).to(torch.uint8)
    y = torch.arange(40) % 10
    monkeypatch.setattr("sslbook.data.cifar10", lambda split, root=None: (x, y))
    assert project.main(["--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["cifar10-small-moco.pt", "cifar10-small-simclr.pt", "cifar10-small-supervised-2.pt"]
    meta = train.load_checkpoint(tmp_path / "cifar10-small-simclr.pt", project.encoder("small"))
    assert meta["command"] == f"SSLBOOK_BUDGET=quick python -m sslbook.project --out {tmp_path}"
    assert meta["steps"] == 2 and meta["budget"] == "quick"
    sup = train.load_checkpoint(tmp_path / "cifar10-small-supervised-2.pt", project.classifier("small"))
    assert sup["labels_per_class"] == 2 and sup["images"] == 20
    assert "cifar10-small-moco.pt: 2 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        project.main(["--out", str(tmp_path), "--only", "byol"])


# --- the checkpoints in the repository -----------------------------------------------

def shipped():
    return sorted(glob.glob(os.path.join(SHIPPED, "*.pt")))


def test_the_book_ships_small_checkpoints_for_every_kind_of_the_quick_recipe():
    rec = project.recipe("quick")
    kinds = [*rec.pretrain_steps, *(f"supervised-{c}" for c in rec.supervised_steps)]
    names = {os.path.basename(p) for p in shipped()}
    assert names == {project.checkpoint_name(k, rec.arch) for k in kinds}
    total = sum(os.path.getsize(p) for p in shipped())
    assert total < 10 * 2**20, f"shipped checkpoints take {total / 2**20:.1f} MB"


@pytest.mark.parametrize("path", shipped(), ids=os.path.basename)
def test_each_shipped_checkpoint_loads_safely_and_matches_the_recipe_in_the_code(path):
    rec = project.recipe("quick")
    kind = os.path.basename(path)[len("cifar10-small-"):-3]
    model = project.classifier("small") if kind.startswith("supervised") else project.encoder("small")
    meta = train.load_checkpoint(path, model)  # torch.load(weights_only=True) inside
    assert meta["command"].startswith("SSLBOOK_BUDGET=quick python -m sslbook.project --out ")
    assert meta["budget"] == "quick" and meta["arch"] == "small" and meta["seconds"] > 0
    expected = rec.supervised_steps[int(kind.split("-")[1])] if kind.startswith("supervised") else rec.pretrain_steps[kind]
    assert meta["steps"] == expected, "the checkpoint was made with other settings than the recipe in the code"
    assert len(meta["loss"]) == meta["steps"]
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())


def test_the_full_recipe_is_resnet18_for_about_200_epochs_and_its_code_path_runs():
    full = project.recipe("full")
    epochs = full.pretrain_steps["simclr"] * full.batch_size / 50_000
    assert full.arch == "resnet18" and 195 <= epochs <= 205
    assert max(full.supervised_steps) == 5000  # every training label, in the full budget only
    # One step of each kind with ResNet-18 on the CPU: the GPU run uses the same code.
    enc = project.encoder("resnet18")
    meta = project.pretrain(enc, small_images(8), "moco", steps=1, batch_size=4, queue_size=8, progress=False)
    assert meta["steps"] == 1 and enc(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    net = project.classifier("resnet18")
    assert project.train_supervised(net, small_images(8), torch.arange(8) % 10 % 2, steps=1, batch_size=4,
                                    progress=False)["steps"] == 1
