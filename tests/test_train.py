import time

import pytest
import torch

from sslbook import train


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


# --- MoCo and supervised steps, checkpoints -----------------------------------------

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


def test_adamw_one_cycle_warms_up_and_anneals_over_its_steps():
    model = torch.nn.Linear(3, 1)
    optimizer, scheduler = train.adamw_one_cycle(model.parameters(), 0.01, steps=20, weight_decay=0.05)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["weight_decay"] == 0.05
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(rates) == pytest.approx(0.01, rel=0.05)              # the peak is lr
    assert rates[0] < 0.01 / 10 and rates[-1] < 0.01 / 100          # starts low, ends near 0


def test_adamw_one_cycle_without_steps_has_no_schedule():
    optimizer, scheduler = train.adamw_one_cycle(torch.nn.Linear(3, 1).parameters(), 0.01, steps=None)
    assert scheduler is None and optimizer.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("kwargs, match", [({"lr": 0.0, "steps": 5}, "lr"), ({"lr": 0.01, "steps": 0}, "steps")])
def test_adamw_one_cycle_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.adamw_one_cycle(torch.nn.Linear(3, 1).parameters(), **kwargs)
