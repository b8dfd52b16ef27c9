"""sslbook.tools: the phase profile of a SimCLR step, cProfile's slowest functions, and
scalars written as TensorBoard event files and read back."""
import doctest
import json
import time

import pytest
import torch

from sslbook import augment, models, tools, train


@pytest.fixture
def setup():
    torch.manual_seed(0)
    model = models.SimCLRModel(models.SmallCNN(1, widths=(8, 16), feature_dim=16), models.ProjectionHead(16, 8))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, torch.rand(40, 1, 8, 8), augment.digit_views(), opt


def test_profile_step_times_every_phase_and_trains(setup):
    model, images, views, opt = setup
    before = [p.detach().clone() for p in model.parameters()]
    prof = tools.profile_step(model, images, views, opt, batch_size=16, steps=3,
                              generator=torch.Generator().manual_seed(0))
    assert set(prof.seconds) == set(tools.PHASES)
    assert all(len(v) == 3 and all(s > 0 for s in v) for v in prof.seconds.values())
    assert sum(prof.fractions().values()) == pytest.approx(1.0)
    assert [r[0] for r in prof.rows()] != [] and sorted(r[0] for r in prof.rows()) == sorted(tools.PHASES)
    ms = [r[1] for r in prof.rows()]
    assert ms == sorted(ms, reverse=True)
    assert prof.views_per_second() > 0 and "backward" in prof.table()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the optimizer stepped
    names = {e.key for e in prof.profiler.key_averages()}
    assert set(tools.PHASES) <= names  # each phase is a labelled range in the profiler's table
    assert not model.training
    assert len(prof.warmup_seconds) == 1 and prof.warmup_seconds[0] > 0  # the one warm-up step, timed
    assert prof.step_seconds() == pytest.approx([sum(prof.seconds[p][i] for p in tools.PHASES) for i in range(3)])


def test_profile_step_puts_slow_views_in_the_views_phase(setup):
    model, images, views, opt = setup

    class SlowViews:
        def pair(self, x, generator=None):
            time.sleep(0.05)
            return views.pair(x, generator)

    prof = tools.profile_step(model, images, SlowViews(), opt, batch_size=16, steps=2, warmup=0)
    assert min(prof.seconds["views"]) >= 0.05
    assert max(prof.seconds["forward"]) < 0.05  # the views are not counted twice
    assert prof.rows()[0][0] == "views"
    assert prof.warmup_seconds == []


def test_profile_step_runs_the_recipe_s_step_and_can_time_without_the_profiler(setup):
    model, images, views, opt = setup
    images3 = torch.rand(40, 3, 8, 8)
    model = models.SimCLRModel(models.SmallCNN(3, widths=(8, 16), feature_dim=16), models.ProjectionHead(16, 8))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    prof = tools.profile_step(model, images3, augment.cifar_views(crop_scale=(0.2, 1.0)), opt, batch_size=16,
                              steps=2, precision="bfloat16", channels_last=True, with_profiler=False)
    assert prof.profiler is None and prof.precision == "bfloat16" and prof.channels_last
    assert all(len(v) == 2 and all(s > 0 for s in v) for v in prof.seconds.values())
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)   # the model was converted
    assert tools.profile_step(model, images3, views, opt, batch_size=16, steps=1, precision="auto").precision \
        in ("float32", "bfloat16")


def test_profile_step_under_bfloat16_runs_the_forward_pass_in_bfloat16(setup):
    model, images, views, opt = setup
    seen = []
    model.register_forward_pre_hook(lambda module, inputs: seen.append(
        torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None))
    tools.profile_step(model, images, views, opt, batch_size=16, steps=1, warmup=0, precision="bfloat16")
    tools.profile_step(model, images, views, opt, batch_size=16, steps=1, warmup=0)
    assert seen == [torch.bfloat16, None]


@pytest.mark.parametrize("kwargs,match", [
    ({"precision": "half"}, "precision must be one of"),
    ({"channels_last": "yes"}, "channels_last must be True or False"),
    ({"with_profiler": 1}, "with_profiler must be True or False"),
    ({"batch_size": 1}, "batch_size must be an integer >= 2"),
    ({"batch_size": 41}, "batch_size must be at most len"),
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"warmup": -1}, "warmup must be an integer >= 0"),
    ({"temperature": 0.0}, "temperature must be"),
    ({"views": "crop"}, "views must have a pair"),
    ({"images": torch.rand(40, 64)}, "images must be 4-D"),
])
def test_profile_step_rejects_bad_arguments(setup, kwargs, match):
    model, images, views, opt = setup
    args = {"images": images, "views": views, "batch_size": 16, **kwargs}
    with pytest.raises(ValueError, match=match):
        tools.profile_step(model, args.pop("images"), args.pop("views"), opt, **args)


def test_profile_step_rejects_a_model_or_optimizer_of_the_wrong_kind(setup):
    model, images, views, opt = setup
    with pytest.raises(ValueError, match="model must be a torch.nn.Module, got function"):
        tools.profile_step(lambda x: x, images, views, opt, batch_size=16)
    with pytest.raises(ValueError, match="optimizer must be a torch.optim.Optimizer, got float"):
        tools.profile_step(model, images, views, 0.1, batch_size=16)


def test_a_failing_step_leaves_the_model_in_evaluation_mode(setup):
    model, images, _, opt = setup

    class BrokenViews:
        def pair(self, x, generator=None):
            raise RuntimeError("no views today")

    with pytest.raises(RuntimeError, match="no views today"):
        tools.profile_step(model, images, BrokenViews(), opt, batch_size=16)
    assert not model.training


def test_phase_profile_arithmetic():
    prof = tools.PhaseProfile({"views": [0.1, 0.1], "forward": [0.2, 0.2], "backward": [0.6, 0.6],
                               "optimizer": [0.1, 0.1]}, steps=2, batch_size=10)
    assert prof.fractions() == pytest.approx({"views": 0.1, "forward": 0.2, "backward": 0.6, "optimizer": 0.1})
    assert prof.per_step_ms()["backward"] == pytest.approx(600)
    assert prof.views_per_second() == pytest.approx(2 * 10 * 2 / 2.0)
    assert prof.rows()[0][0] == "backward"
    assert prof.step_seconds() == pytest.approx([1.0, 1.0]) and prof.warmup_seconds == []
    with pytest.raises(ValueError, match="phase must be one of"):
        prof.total("loss")


def _leaf():
    return sum(i * i for i in range(200_000))


def _outer():
    return _leaf() + sum(range(10))


def test_cprofile_top_finds_the_slowest_function():
    result, rows = tools.cprofile_top(_outer, n=5)
    assert result == _outer()
    assert len(rows) <= 5 and all(isinstance(r, tools.ProfileRow) for r in rows)
    assert "_leaf" in rows[0].function or "genexpr" in rows[0].function
    tottimes = [r.tottime for r in rows]
    assert tottimes == sorted(tottimes, reverse=True)
    _, by_cum = tools.cprofile_top(_outer, n=3, sort="cumtime")
    assert "_outer" in by_cum[0].function  # including its callees, the outer function is the slowest
    _, called = tools.cprofile_top(lambda: [abs(i) for i in range(50)], n=1, sort="ncalls")
    assert called[0].calls == 50 and "abs" in called[0].function


@pytest.mark.parametrize("kwargs,match", [({"n": 0}, "n must be an integer >= 1"),
                                          ({"sort": "time"}, "sort must be one of")])
def test_cprofile_top_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tools.cprofile_top(_outer, **kwargs)
    with pytest.raises(ValueError, match="fn must be callable"):
        tools.cprofile_top(42)


def test_scalars_round_trip_through_tensorboard_files(tmp_path):
    values = {"loss": [2.5, 2.0, 1.7, 1.6], "train/lr": [0.1, 0.05, 0.025, 0.0125]}
    logdir = tools.log_scalars(tmp_path / "run", values, steps=[0, 10, 20, 30])
    assert any(logdir.glob("events.out.tfevents.*"))
    back = tools.read_scalars(logdir)
    assert set(back) == set(values)
    for tag, logged in values.items():
        steps, read = back[tag]
        assert steps == [0, 10, 20, 30]
        torch.testing.assert_close(torch.tensor(read), torch.tensor(logged, dtype=torch.float32))


def test_a_history_is_logged_at_its_steps(tmp_path):
    history = train.History(step=[0, 1, 2], seconds=[0.1, 0.2, 0.3], values={"loss": [3.0, 2.0, 1.0]})
    back = tools.read_scalars(tools.log_scalars(tmp_path, history))
    assert back == {"loss": ([0, 1, 2], [3.0, 2.0, 1.0])}


def test_many_scalars_are_all_read_back(tmp_path):
    """EventAccumulator keeps 10,000 scalars per tag by default, sampled; read_scalars keeps all."""
    values = [float(i % 7) for i in range(12_000)]
    steps, read = tools.read_scalars(tools.log_scalars(tmp_path, {"loss": values}))["loss"]
    assert steps == list(range(12_000)) and read == values


@pytest.mark.parametrize("scalars,steps,match", [
    ({}, None, "scalars must be a non-empty dict"),
    ([1.0, 2.0], None, "scalars must be a non-empty dict"),
    ({"": [1.0]}, None, "non-empty string"),
    ({"loss": ["a"]}, None, "plain numbers"),
    ({"loss": [1.0, 2.0], "lr": [1.0]}, None, "one value per step"),
    ({"loss": [1.0, 2.0]}, [0], "one value per step"),
    ({"loss": [1.0, 2.0]}, [0, -1], "steps must be integers >= 0"),
])
def test_log_scalars_rejects_bad_arguments(tmp_path, scalars, steps, match):
    with pytest.raises(ValueError, match=match):
        tools.log_scalars(tmp_path, scalars, steps)


def test_read_scalars_needs_event_files(tmp_path):
    with pytest.raises(ValueError, match="logdir must be a folder holding TensorBoard event files"):
        tools.read_scalars(tmp_path)
    with pytest.raises(ValueError, match="logdir must be a folder"):
        tools.read_scalars(tmp_path / "missing")


def test_run_record_keeps_settings_seed_commit_and_a_name(tmp_path):
    record = tools.run_record({"lr": 0.003, "crop_scale": [0.2, 1.0]}, seed=2, tag="simclr")
    commit, dirty = tools.git_commit()
    assert record["commit"] == commit and record["dirty"] == dirty
    assert record["hparams"] == {"lr": 0.003, "crop_scale": [0.2, 1.0]} and record["seed"] == 2
    assert record["name"].startswith("simclr-") and record["name"].endswith(f"-s2-{commit[:7]}")
    assert record["torch"] == torch.__version__
    json.dumps(record)                                             # plain data, for run.json
    assert tools.git_commit(tmp_path) == ("unknown", False)        # outside a work tree


@pytest.mark.parametrize("kwargs,match", [
    ({"hparams": [("lr", 1)]}, "hparams must be a dict"),
    ({"hparams": {"": 1}}, "hparams must be a dict with non-empty string keys"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"seed": 1.5}, "seed must be an integer >= 0"),
    ({"tag": "a/b"}, "tag must be a non-empty string without slashes"),
])
def test_run_record_rejects_bad_arguments(kwargs, match):
    args = {"hparams": {"lr": 1.0}, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        tools.run_record(args.pop("hparams"), args.pop("seed"), **args)


def test_doctests():
    assert doctest.testmod(tools).failed == 0
