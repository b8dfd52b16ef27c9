import math
import time

import pytest
import torch

from sslbook import attention, augment, models, train


def quadratic():
    w = torch.zeros(2, requires_grad=True)
    return w, torch.optim.SGD([w], lr=0.1)


def test_fit_stops_after_steps_and_records_history():
    w, opt = quadratic()
    h = train.fit(lambda b: {"loss": ((w - 3) ** 2).sum(), "w0": w[0]}, iter(int, 1), opt, steps=100, progress=False)
    assert h.steps == 100 and h.step == list(range(100))
    assert h.loss[0] == pytest.approx(18.0) and h.loss[-1] < 1e-6
    assert len(h.values["w0"]) == 100 and h.elapsed >= h.seconds[0] > 0
    assert torch.allclose(w, torch.full((2,), 3.0), atol=1e-3)


def test_fit_stops_after_seconds():
    w, opt = quadratic()

    def slow_step(_):
        time.sleep(0.01)
        return ((w - 1) ** 2).sum()

    start = time.perf_counter()
    h = train.fit(slow_step, iter(int, 1), opt, seconds=0.2, progress=False)
    assert 0.2 <= time.perf_counter() - start < 2.0
    assert 5 <= h.steps < 25


def test_fit_stops_when_batches_run_out():
    w, opt = quadratic()
    h = train.fit(lambda b: ((w - b) ** 2).sum(), [1.0, 2.0, 3.0], opt, steps=10, progress=False)
    assert h.steps == 3


def test_fit_sets_model_modes_and_steps_the_scheduler():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    seen = []

    def step(_):
        seen.append(model.training)
        return model(torch.ones(1, 2)).pow(2).sum()

    train.fit(step, iter(int, 1), opt, steps=3, scheduler=sched, model=model, progress=False)
    assert seen == [True] * 3 and not model.training
    assert opt.param_groups[0]["lr"] == pytest.approx(0.125)


def test_fit_refuses_a_nan_loss():
    w, opt = quadratic()
    with pytest.raises(FloatingPointError, match="at step 0"):
        train.fit(lambda b: (w * float("nan")).sum(), iter(int, 1), opt, steps=3, progress=False)


@pytest.mark.parametrize("kwargs,match", [
    ({}, "needs a budget"), ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"seconds": -1}, "seconds"),
])
def test_fit_rejects_bad_budgets(kwargs, match):
    w, opt = quadratic()
    with pytest.raises(ValueError, match=match):
        train.fit(lambda b: w.sum(), iter(int, 1), opt, progress=False, **kwargs)


def test_shuffled_batches_cover_each_epoch_once():
    it = train.shuffled_batches(10, 5, torch.Generator().manual_seed(0))
    first_epoch = torch.cat([next(it), next(it)])
    assert sorted(first_epoch.tolist()) == list(range(10))
    assert not torch.equal(torch.cat([next(it), next(it)]), first_epoch)


def test_shuffled_batches_drop_or_keep_the_last_batch():
    assert [len(next(train.shuffled_batches(5, 5))) for _ in range(1)] == [5]
    it = train.shuffled_batches(5, 2, drop_last=False)
    assert [len(next(it)) for _ in range(3)] == [2, 2, 1]
    with pytest.raises(ValueError, match="batch_size must be at most n"):
        next(train.shuffled_batches(3, 4))


def test_history_smoothing():
    h = train.History(values={"loss": [4.0, 2.0, 0.0, 2.0]})
    assert h.smoothed(window=2) == [4.0, 3.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="window"):
        h.smoothed(window=0)


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


# --- MoCo and supervised steps, checkpoints -----------------------------------------

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


def test_margin_toy_separates_groups_by_the_margin():
    start, end, labels, history = train.margin_toy(1.0, steps=60)
    other = labels.view(-1, 1) != labels.view(1, -1)
    assert torch.cdist(end, end)[other].min() == pytest.approx(1.0, abs=0.05) and history[-1] < history[0]
    with pytest.raises(ValueError, match="margin"):
        train.margin_toy(-1.0)


def test_fit_calls_back_after_every_step_with_the_steps_done():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    seen = []
    train.fit(lambda b: ((w - 1) ** 2).sum(), iter(int, 1), opt, steps=5, progress=False,
              callback=lambda done: seen.append((done, round(w.item(), 6))))
    assert [d for d, _ in seen] == [1, 2, 3, 4, 5]
    assert seen[0][1] == pytest.approx(0.2) and seen[-1][1] > seen[0][1]   # after the step, not before
    with pytest.raises(ValueError, match="callback must be a function"):
        train.fit(lambda b: ((w - 1) ** 2).sum(), iter(int, 1), opt, steps=1, callback=3)
