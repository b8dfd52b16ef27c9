"""sslbook.precision: bfloat16 where the hardware computes it natively, float32 elsewhere;
the forward pass in bfloat16, the loss and the weights in float32."""
import pytest
import torch

from sslbook import losses, models, precision, train


def test_auto_follows_the_hardware_and_explicit_choices_are_kept(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert precision.native_bfloat16("cpu") and precision.resolve("auto", "cpu") == "bfloat16"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not precision.native_bfloat16("cpu") and precision.resolve("auto", "cpu") == "float32"
    assert precision.resolve("bfloat16", "cpu") == "bfloat16" and precision.resolve("float32", "cpu") == "float32"
    assert not precision.native_bfloat16("meta")


def test_bad_precisions_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match=r"precision must be one of \('auto', 'float32', 'bfloat16'\), got 'fp16'"):
        precision.resolve("fp16")
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        precision.autocast("auto")
    from sslbook import recipes
    with pytest.raises(ValueError, match="precision must be one of"):
        recipes.recipe().replace(precision="half")


def test_the_forward_pass_runs_in_bfloat16_and_returns_float32():
    torch.manual_seed(0)
    net = models.encoder("small")
    x = torch.rand(4, 3, 32, 32)
    seen = []
    net.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = train.forward(net, x, "bfloat16", channels_last=True)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    ref = train.forward(net, x, "float32")
    assert seen[-1] == torch.float32
    # bfloat16 keeps about 3 significant digits: close to float32, not equal
    assert 0 < (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_channels_last_changes_the_memory_not_the_numbers():
    x = torch.rand(2, 3, 8, 8)
    y = precision.channels_last(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, y)
    flat = torch.rand(2, 5)
    assert precision.channels_last(flat) is flat
    torch.manual_seed(0)
    net = models.encoder("small").eval()
    ref = net(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    net_cl = net.to(memory_format=torch.channels_last)
    again = train.forward(net_cl, torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)), "float32", True)
    torch.testing.assert_close(again, ref, rtol=1e-4, atol=1e-5)


def test_a_bfloat16_step_keeps_float32_weights_gradients_and_optimizer_state():
    torch.manual_seed(0)
    enc = models.encoder("small")
    model = models.SimCLRModel(enc, models.ProjectionHead(enc.feature_dim, 16)).to(memory_format=torch.channels_last)
    from sslbook import augment
    step = train.simclr_step(model, torch.rand(16, 3, 32, 32), augment.cifar_views(), precision="bfloat16",
                             channels_last=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history = train.fit(step, train.shuffled_batches(16, 8), opt, steps=2, progress=False)
    assert len(history.loss) == 2 and all(torch.isfinite(torch.tensor(history.loss)))
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())
    assert all(v.dtype == torch.float32 for s in opt.state.values() for v in s.values() if v.ndim > 0)
    # the loss itself is computed in float32: its value on float32 embeddings
    z = torch.randn(8, 16)
    assert losses.info_nce(z, z).dtype == torch.float32
