"""sslbook.zoo: every family of chapter 3d trained by one function at equal settings."""
import math

import pytest
import torch

from sslbook import data, zoo


@pytest.fixture(scope="module")
def images():
    return data.load_digits().x_train[:256]


@pytest.mark.parametrize("method", zoo.METHODS)
def test_every_method_trains_and_records_its_run(images, method):
    run = zoo.pretrain(images, method, steps=3, batch_size=64, seed=0)
    assert run.history.steps == 3 and all(math.isfinite(v) for v in run.history.loss)
    assert run.meta["method"] == method and run.meta["batch_size"] == 64 and run.meta["out_dim"] == 64
    assert not run.model.training
    with torch.no_grad():
        assert run.model.encoder(images[:5]).shape == (5, 128)
    if method.startswith("dino"):
        h, kl = run.history.values["teacher_entropy"], run.history.values["kl"]
        assert len(h) == len(kl) == 3
        assert all(0 <= v <= math.log(64) + 1e-5 for v in h) and all(v >= -1e-6 for v in kl)
        mi = run.history.values["teacher_mi"]     # H(mean p) - mean H(p): between 0 and log K
        assert len(mi) == 3 and all(-1e-5 <= v <= math.log(64) + 1e-5 for v in mi)


def test_the_same_seed_gives_the_same_run_and_every_method_starts_from_the_same_weights(images):
    a = zoo.pretrain(images, "vicreg", steps=2, batch_size=32, seed=3)
    b = zoo.pretrain(images, "vicreg", steps=2, batch_size=32, seed=3)
    assert a.history.loss == b.history.loss
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    # lr that leaves the weights where they started (one-cycle starts at lr / 25, AdamW moves by about lr)
    starts = [zoo.pretrain(images, m, steps=1, batch_size=32, seed=3, lr=1e-12).model.encoder for m in zoo.METHODS]
    first = list(starts[0].parameters())
    for enc in starts[1:]:
        assert all(torch.allclose(p, q, atol=1e-9) for p, q in zip(first, enc.parameters()))


def test_dino_without_sharpening_has_a_flatter_teacher_than_without_centring(images):
    ends = {m: zoo.pretrain(images, m, steps=40, batch_size=64, seed=0).history.values["teacher_entropy"][-1]
            for m in ("dino-no-centring", "dino-no-sharpening")}
    assert ends["dino-no-sharpening"] > ends["dino-no-centring"]


@pytest.mark.parametrize("kwargs,match", [
    ({"method": "byol"}, "method must be one of"),
    ({"steps": 0}, "steps"),
    ({"batch_size": 1}, "batch_size"),
    ({"lr": -1.0}, "lr"),
    ({"prototypes": 1}, "prototypes"),
    ({"momentum": 1.5}, "momentum"),
    ({"out_dim": 0}, "out_dim"),
])
def test_bad_settings_raise_a_clear_error(images, kwargs, match):
    args = {"method": "simclr", "steps": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        zoo.pretrain(images, **args)


def test_images_must_be_a_float_batch():
    with pytest.raises(ValueError, match="images must be 4-D"):
        zoo.pretrain(torch.rand(8, 8), "simclr", steps=1)
