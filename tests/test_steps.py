"""The step functions of sslbook.steps (re-exported by sslbook.train, which the chapters use)."""
import math

import pytest
import torch

from sslbook import attention, augment, models, steps, train


def test_simclr_step_lowers_the_loss_on_digits(digits):
    torch.manual_seed(0)
    model = models.SimCLRModel(models.SmallCNN(1, widths=(16, 32)), models.ProjectionHead(128, 32))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    step = train.simclr_step(model, digits.x_train, augment.digit_views(), 0.2, g)
    h = train.fit(step, train.shuffled_batches(len(digits.x_train), 128, g), opt, steps=60, model=model, progress=False)
    assert sum(h.loss[-10:]) / 10 < sum(h.loss[:5]) / 5 - 0.5


def test_simclr_step_rejects_bad_temperature(digits):
    model = models.SimCLRModel(models.SmallCNN(1), models.ProjectionHead(128, 8))
    with pytest.raises(ValueError, match="temperature"):
        train.simclr_step(model, digits.x_train, augment.digit_views(), temperature=0)


def test_moco_step_fills_the_queue_and_moves_the_key_encoder(digits):
    import copy

    from sslbook import augment

    torch.manual_seed(0)
    model = models.SimCLRModel(models.SmallCNN(1, feature_dim=32), models.ProjectionHead(32, 16))
    keys = copy.deepcopy(model).requires_grad_(False)
    queue = models.FeatureQueue(64, 16)
    step = train.moco_step(model, keys, queue, digits.x_train, augment.digit_views(), momentum=0.9,
                           generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = train.fit(step, train.shuffled_batches(len(digits.train_idx), 16), opt, steps=3, progress=False)
    assert len(queue) == 16 * 3 + 16  # the first batch's keys also served as its own negatives
    assert all(math.isfinite(v) for v in history.loss)
    # After training the key encoder differs from its start but is not the online encoder either.
    online, key = next(model.parameters()), next(keys.parameters())
    assert not torch.equal(online, key)


def test_moco_step_rejects_bad_momentum(digits):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        train.moco_step(None, None, None, digits.x_train, None, momentum=1.5)


def test_supervised_step_reports_loss_and_accuracy():
    model = torch.nn.Linear(4, 2)
    x, y = torch.randn(8, 4), torch.arange(8) % 2
    out = train.supervised_step(model, x, y)(torch.arange(8))
    assert set(out) == {"loss", "accuracy"} and 0 <= out["accuracy"].item() <= 1
    with pytest.raises(ValueError, match="same length"):
        train.supervised_step(model, x, y[:5])




def test_pair_step_records_what_the_monitor_returns(digits):
    torch.manual_seed(0)
    model = models.SimCLRModel(models.SmallCNN(1, feature_dim=16), models.ProjectionHead(16, 8))
    seen = []

    def monitor(z1, z2):
        seen.append(z1.requires_grad)
        return {"n": len(z1)}

    step = train.pair_step(model, digits.x_train, augment.digit_views(), lambda a, b: ((a - b) ** 2).mean(),
                           torch.Generator().manual_seed(0), monitor)
    out = step(torch.arange(6))
    assert set(out) == {"loss", "n"} and out["n"] == 6 and seen == [False]
    with pytest.raises(ValueError, match="loss_fn must be a function"):
        train.pair_step(model, digits.x_train, augment.digit_views(), "info_nce")


def test_simsiam_step_with_and_without_stop_gradient(digits):
    torch.manual_seed(0)
    model = models.SimCLRModel(models.SmallCNN(1, feature_dim=16), models.ProjectionHead(16, 8))
    pred = models.ProjectionHead(8, 8, hidden_dim=4)
    for stop in (True, False):
        loss = train.simsiam_step(model, pred, digits.x_train, augment.digit_views(), stop,
                                  torch.Generator().manual_seed(0))(torch.arange(8))
        assert -1.0 <= loss.item() <= 1.0 and loss.requires_grad


def test_mlm_step_scores_only_the_hidden_tokens():
    from sslbook import data, losses, masking

    corpus = data.make_corpus(64)
    V = corpus.vocab_size
    model = attention.TinyTransformer(V + 1, dim=16, depth=1, heads=2, max_len=corpus.ids.shape[1])
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    loss = train.mlm_step(model, corpus.ids, V, V, 0.15, special_ids=(0,), generator=g1)(torch.arange(16))
    inputs, labels = masking.mask_tokens(corpus.ids[:16], 0.15, V, V, special_ids=(0,), generator=g2)
    assert torch.allclose(loss, losses.masked_token_loss(model(inputs), labels))
    with pytest.raises(ValueError, match="mask_ratio"):
        train.mlm_step(model, corpus.ids, V, V, mask_ratio=0)


def test_masked_image_step_lowers_the_reconstruction_loss(digits):
    torch.manual_seed(0)
    mae = attention.PatchMaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2)
    g = torch.Generator().manual_seed(0)
    h = train.fit(train.masked_image_step(mae, digits.x_train, 0.5, g), train.shuffled_batches(len(digits.x_train), 64, g),
                  torch.optim.AdamW(mae.parameters(), lr=3e-3), steps=40, progress=False)
    assert sum(h.loss[-5:]) / 5 < sum(h.loss[:5]) / 5
    with pytest.raises(ValueError, match="mask_ratio"):
        train.masked_image_step(mae, digits.x_train, 1.5)


class _Views:
    """Two fixed 'views': the image and the image plus one, no randomness."""

    def pair(self, x, generator=None):
        return x, x + 1


def _moco_parts(bn: bool):
    torch.manual_seed(0)
    layers = [torch.nn.Flatten(), torch.nn.Linear(4, 6)] + ([torch.nn.BatchNorm1d(6)] if bn else [])
    model = torch.nn.Sequential(*layers)
    import copy
    return model, copy.deepcopy(model).requires_grad_(False)


def test_moco_step_default_is_unchanged_by_the_new_options():
    x = torch.randn(16, 4)
    out = []
    for kwargs in ({}, {"shuffle_bn": 1, "symmetric": False, "own_key_negative": True}):
        model, keys = _moco_parts(bn=True)
        queue = models.FeatureQueue(32, 6)
        step = train.moco_step(model, keys, queue, x, _Views(), temperature=0.5, **kwargs)
        out.append((step(torch.arange(8)).item(), queue.buffer))
    assert out[0][0] == out[1][0] and torch.equal(out[0][1], out[1][1])


def test_shuffle_bn_unshuffles_the_keys_and_changes_them_only_through_batch_norm():
    x = torch.randn(16, 4)
    got = {}
    for bn in (False, True):
        for g in (1, 4):
            model, keys = _moco_parts(bn)
            queue = models.FeatureQueue(64, 6)
            step = train.moco_step(model, keys, queue, x, _Views(), temperature=0.5, shuffle_bn=g,
                                   generator=torch.Generator().manual_seed(0))
            step(torch.arange(16))
            got[bn, g] = queue.buffer[16:32]   # the keys of the batch, in the batch's order
    # without BatchNorm the sub-batches change nothing: the keys come back in their own order
    assert torch.allclose(got[False, 1], got[False, 4], atol=1e-6)
    # with BatchNorm each key is normalised by the statistics of its own sub-batch
    assert not torch.allclose(got[True, 1], got[True, 4], atol=1e-3)


def test_symmetric_moco_enqueues_both_views_and_averages_two_losses():
    x = torch.randn(8, 4)
    model, keys = _moco_parts(bn=False)
    queue = models.FeatureQueue(64, 6)
    step = train.moco_step(model, keys, queue, x, _Views(), temperature=0.5, symmetric=True)
    step(torch.arange(8))
    assert len(queue) == 2 * 8 + 2 * 8   # the first batch's 2N keys also filled the queue
    # the first half of the loss is the one-directional loss against the same queue
    model2, keys2 = _moco_parts(bn=False)
    q = model2(x)
    k1, k2 = keys2(x + 1), keys2(x)
    from sslbook import losses
    start = torch.cat([k1, k2])
    want = 0.5 * (losses.moco_loss(q, k1, start, 0.5) + losses.moco_loss(model2(x + 1), k2, start, 0.5))
    model3, keys3 = _moco_parts(bn=False)
    got = train.moco_step(model3, keys3, models.FeatureQueue(64, 6), x, _Views(), temperature=0.5,
                          symmetric=True)(torch.arange(8))
    assert torch.allclose(got, want, atol=1e-6)


def test_the_first_step_can_leave_a_querys_own_key_out_of_its_negatives():
    x = torch.randn(8, 4)
    model, keys = _moco_parts(bn=False)
    queue = models.FeatureQueue(64, 6)
    got = train.moco_step(model, keys, queue, x, _Views(), temperature=0.5, own_key_negative=False)(torch.arange(8))
    q, k = torch.nn.functional.normalize(model(x), dim=1), torch.nn.functional.normalize(keys(x + 1), dim=1)
    want = torch.nn.functional.cross_entropy(q @ k.T / 0.5, torch.arange(8))
    assert torch.allclose(got, want, atol=1e-6)
    assert len(queue) == 8   # only this batch's keys, once


@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_moco_step_rejects_bad_shuffle_bn(value):
    with pytest.raises(ValueError, match="shuffle_bn must be an integer >= 1"):
        train.moco_step(None, None, None, torch.zeros(2, 4), None, shuffle_bn=value)


def test_moco_step_rejects_more_sub_batches_than_images():
    model, keys = _moco_parts(bn=False)
    step = train.moco_step(model, keys, models.FeatureQueue(8, 6), torch.randn(4, 4), _Views(), shuffle_bn=8)
    with pytest.raises(ValueError, match="shuffle_bn must be at most the batch size 4, got 8"):
        step(torch.arange(4))


def test_train_re_exports_every_step_function():
    for name in ("forward", "pair_step", "simclr_step", "moco_step", "simsiam_step", "mlm_step",
                 "masked_image_step", "supervised_step"):
        assert getattr(train, name) is getattr(steps, name)
