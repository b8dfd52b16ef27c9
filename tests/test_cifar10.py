"""CIFAR-10 loading, safe extraction, the CIFAR views and the CIFAR ResNet-18.

Tests that need the real data use ../shared/data/cifar10-jpg.tar.gz and skip, saying so, without it.
"""
import io
import os
import tarfile
import time

import pytest
import torch

from sslbook import augment, data, models

from conftest import ROOT

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10-jpg.tar.gz")
needs_data = pytest.mark.skipif(not os.path.exists(SHARED), reason=f"CIFAR-10 tree not found at {SHARED}")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SSLBOOK_CIFAR10", raising=False)
    return tmp_path / "cache"


@needs_data
def test_cifar10_from_the_image_folder_tree(monkeypatch):
    monkeypatch.setenv("SSLBOOK_CIFAR10", SHARED)
    x, y = data.cifar10("test")
    assert x.shape == (10_000, 3, 32, 32) and x.dtype == torch.uint8
    assert y.bincount().tolist() == [1000] * 10
    start = time.perf_counter()
    x2, _ = data.cifar10("test")
    assert time.perf_counter() - start < 2.0 and torch.equal(x, x2)  # decoded once, then cached
    xt, yt = data.cifar10("train")
    assert xt.shape == (50_000, 3, 32, 32) and yt.bincount().tolist() == [5000] * 10
    assert data.CIFAR10_CLASSES == ("airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck")


def test_cifar10_without_data_or_network_fails_fast_and_clearly(cache):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="SSLBOOK_CIFAR10.*image-folder tree"):
        data.cifar10("test", download=False)
    with pytest.raises(FileNotFoundError, match="connect to the internet"):
        data.cifar10("test", download=True, timeout=5)  # no network here: fails, does not hang
    assert time.perf_counter() - start < 30


def test_cifar10_rejects_bad_arguments(cache, tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        data.cifar10("valid")
    with pytest.raises(FileNotFoundError, match="has no CIFAR-10 tree"):
        data.cifar10("test", root=tmp_path)


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
        data.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "fine.txt").exists()


def test_safe_extract_refuses_links(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("innocent")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(ValueError, match="link"):
        data.safe_extract(archive, tmp_path / "out")


def test_safe_extract_extracts_a_good_archive(tmp_path):
    archive = tmp_path / "good.tar.gz"
    make_tar(archive, ["a/b.txt", "c.txt"])
    out = data.safe_extract(archive, tmp_path / "out")
    assert (out / "a" / "b.txt").read_bytes() == b"x" and (out / "c.txt").exists()


def test_cifar_views_are_per_sample_crops_flips_and_colour():
    x = torch.rand(1, 3, 32, 32).repeat(16, 1, 1, 1)
    v = augment.cifar_views()(x, torch.Generator().manual_seed(0))
    assert v.shape == x.shape and 0 <= v.min() and v.max() <= 1
    assert len({tuple(r.flatten().tolist()) for r in v}) == 16


def test_crop_mode_with_full_area_and_no_jitter_is_the_identity():
    x = torch.rand(4, 3, 16, 16)
    v = augment.RandomViews(rotation=0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))(x)
    assert torch.allclose(v, x, atol=1e-5)
    with pytest.raises(ValueError, match="crop_scale"):
        augment.RandomViews(crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="crop_ratio"):
        augment.RandomViews(crop_scale=(0.5, 1.0), crop_ratio=(2.0, 1.0))


def test_cifar_resnet18_keeps_resolution_in_the_stem():
    net = models.cifar_resnet18()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    assert models.cifar_resnet18(feature_dim=128)(torch.rand(2, 3, 32, 32)).shape == (2, 128)


# --- the stand-in chapter 5 falls back to -------------------------------------------

def test_coloured_digits_stand_in():
    d = data.coloured_digits()
    assert d.x_train.shape == (1257, 3, 32, 32) and d.x_test.shape == (540, 3, 32, 32)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1 and not d.stand_in
    assert d.classes == tuple(str(i) for i in range(10))
    # Colour is a nuisance: every image has its own ink and paper colours.
    assert len({tuple(x[:, 0, 0].tolist()) for x in d.x_train[:50]}) == 50
    with pytest.raises(ValueError, match="size"):
        data.coloured_digits(size=4)


def test_cifar10_or_stand_in_says_why_it_fell_back(cache, monkeypatch):
    monkeypatch.setenv("SSLBOOK_OFFLINE", "1")
    splits = data.cifar10_or_stand_in()
    assert splits.stand_in and splits.name.startswith("STAND-IN, not CIFAR-10")
    assert "SSLBOOK_CIFAR10" in splits.reason and "download" in splits.reason


@needs_data
def test_cifar10_or_stand_in_gives_cifar10_as_floats(monkeypatch):
    monkeypatch.setenv("SSLBOOK_CIFAR10", SHARED)
    splits = data.cifar10_or_stand_in()
    assert not splits.stand_in and splits.name == "CIFAR-10" and splits.classes == data.CIFAR10_CLASSES
    assert splits.x_train.shape == (50000, 3, 32, 32) and splits.x_test.dtype == torch.float32
    assert 0 <= splits.x_test.min() and splits.x_test.max() <= 1
