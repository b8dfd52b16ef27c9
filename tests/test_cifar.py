"""sslbook.cifar: CIFAR-10 loading, safe extraction, the CIFAR views and the CIFAR ResNet-18.

Tests that need the real data use ../shared/data/cifar10-jpg.tar.gz and skip, saying so, without it.
"""
import io
import tarfile
import time

import pytest
import torch

from sslbook import cifar


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SSLBOOK_CIFAR10", raising=False)
    return tmp_path / "cache"


def test_cifar10_from_the_image_folder_tree(monkeypatch, shared_cifar10):
    monkeypatch.setenv("SSLBOOK_CIFAR10", str(shared_cifar10))
    x, y = cifar.cifar10("test")
    assert x.shape == (10_000, 3, 32, 32) and x.dtype == torch.uint8
    assert y.bincount().tolist() == [1000] * 10
    start = time.perf_counter()
    x2, _ = cifar.cifar10("test")
    assert time.perf_counter() - start < 2.0 and torch.equal(x, x2)  # decoded once, then cached
    xt, yt = cifar.cifar10("train")
    assert xt.shape == (50_000, 3, 32, 32) and yt.bincount().tolist() == [5000] * 10
    assert cifar.CIFAR10_CLASSES == ("airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck")


def test_cifar10_without_data_or_network_fails_fast_and_clearly(cache):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="SSLBOOK_CIFAR10.*image-folder tree"):
        cifar.cifar10("test", download=False)
    with pytest.raises(FileNotFoundError, match="connect to the internet"):
        cifar.cifar10("test", download=True, timeout=5)  # no network here: fails, does not hang
    assert time.perf_counter() - start < 30


def test_cifar10_rejects_bad_arguments(cache, tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        cifar.cifar10("valid")
    with pytest.raises(FileNotFoundError, match="has no CIFAR-10 tree"):
        cifar.cifar10("test", root=tmp_path)


def make_tar(path, names):
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            payload = b"x"
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


@pytest.mark.parametrize("bad", ["../escape.txt", "/abs/path.txt", "ok/../../escape.txt"])
def test_safe_extract_refuses_path_traversal(tmp_path, bad):
    archive = tmp_path / "evil.tar.gz"
    make_tar(archive, ["fine.txt", bad])
    with pytest.raises(ValueError, match="outside"):
        cifar.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "fine.txt").exists()


def test_safe_extract_refuses_links(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("innocent")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="link"):
        cifar.safe_extract(archive, tmp_path / "out")


def test_safe_extract_extracts_a_good_archive(tmp_path):
    archive = tmp_path / "good.tar.gz"
    make_tar(archive, ["a/b.txt", "c.txt"])
    out = cifar.safe_extract(archive, tmp_path / "out")
    assert (out / "a" / "b.txt").read_bytes() == b"x" and (out / "c.txt").exists()








# --- the stand-in chapter 5 falls back to -------------------------------------------

def test_coloured_digits_stand_in():
    d = cifar.coloured_digits()
    assert d.x_train.shape == (1257, 3, 32, 32) and d.x_test.shape == (540, 3, 32, 32)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1 and not d.stand_in
    assert d.classes == tuple(str(i) for i in range(10))
    # Colour is a nuisance: every image has its own ink and paper colours.
    assert len({tuple(x[:, 0, 0].tolist()) for x in d.x_train[:50]}) == 50
    with pytest.raises(ValueError, match="size"):
        cifar.coloured_digits(size=4)


def test_cifar10_or_stand_in_says_why_it_fell_back(cache, monkeypatch):
    monkeypatch.setenv("SSLBOOK_OFFLINE", "1")
    splits = cifar.cifar10_or_stand_in()
    assert splits.stand_in and splits.name.startswith("STAND-IN, not CIFAR-10")
    assert "SSLBOOK_CIFAR10" in splits.reason and "download" in splits.reason


def test_cifar10_or_stand_in_gives_cifar10_as_floats(monkeypatch, shared_cifar10):
    monkeypatch.setenv("SSLBOOK_CIFAR10", str(shared_cifar10))
    splits = cifar.cifar10_or_stand_in()
    assert not splits.stand_in and splits.name == "CIFAR-10" and splits.classes == cifar.CIFAR10_CLASSES
    assert splits.x_train.shape == (50000, 3, 32, 32) and splits.x_test.dtype == torch.float32
    assert 0 <= splits.x_test.min() and splits.x_test.max() <= 1


# --- the validation split ------------------------------------------------------------

def test_the_validation_split_is_stratified_disjoint_and_fixed(monkeypatch):
    labels = torch.arange(1000) % 10
    fit, val = cifar.validation_split(labels, size=100)
    assert len(val) == 100 and len(fit) == 900
    assert set(fit.tolist()).isdisjoint(val.tolist()) and sorted([*fit.tolist(), *val.tolist()]) == list(range(1000))
    assert torch.bincount(labels[val]).tolist() == [10] * 10             # each class keeps its share
    assert torch.equal(val, val.sort().values)
    monkeypatch.setenv("SSLBOOK_SEED", "3")                              # one draw, like the test split
    assert torch.equal(cifar.validation_split(labels, size=100)[1], val)
    assert not torch.equal(cifar.validation_split(labels, size=100, seed=1)[1], val)
    assert cifar.VALIDATION_SIZE == 5000 and cifar.VALIDATION_SEED == 0


@pytest.mark.parametrize("size", [0, 5, 995, 2000, 2.5])
def test_the_validation_split_refuses_a_size_that_empties_a_class(size):
    with pytest.raises(ValueError, match="size"):
        cifar.validation_split(torch.arange(1000) % 10, size=size)


def test_cifar10_validation_reads_only_the_training_split(monkeypatch):
    read = []
    x = torch.arange(200, dtype=torch.uint8).view(200, 1, 1, 1).expand(200, 3, 2, 2)
    y = torch.arange(200) % 10

    def fake(split, root=None):
        read.append(split)
        return x, y

    monkeypatch.setattr(cifar, "cifar10", fake)
    (x_fit, y_fit), (x_val, y_val) = cifar.cifar10_validation(size=20)
    assert read == ["train"] and len(x_fit) == 180 and len(x_val) == 20
    assert set(x_val[:, 0, 0, 0].tolist()).isdisjoint(x_fit[:, 0, 0, 0].tolist())
    assert torch.equal(y_val, y[x_val[:, 0, 0, 0].long()])
