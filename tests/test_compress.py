"""sslbook.compress: file size, int8 quantization, pruning, sparsity and latency."""
import pytest
import torch
from torch import nn

from sslbook import compress, models


def small_net():
    torch.manual_seed(0)
    return models.encoder("small").net.eval()


def test_quantized_encoder_is_smaller_and_agrees():
    net = small_net()
    x = torch.rand(64, 3, 32, 32)
    q = compress.quantize_int8(net, x)
    assert compress.size_bytes(q) < 0.3 * compress.size_bytes(net)
    with torch.no_grad():
        a, b = net(x), q(x)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    assert cos.min() > 0.98
    assert any("quantized" in type(m).__module__ for m in q.modules())
    assert all(p.dtype == torch.float32 for p in net.parameters())            # original untouched


def test_quantize_rejects_untraceable_models_and_bad_input():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="traced"):
        compress.quantize_int8(models.encoder("small"), torch.rand(4, 3, 32, 32))   # shape check in forward
    with pytest.raises(ValueError, match="backend"):
        compress.quantize_int8(small_net(), torch.rand(4, 3, 32, 32), backend="tpu")
    with pytest.raises(ValueError, match="model"):
        compress.quantize_int8("net", torch.rand(4, 3, 32, 32))


def test_pruning_zeros_weights_but_not_bytes():
    net = small_net()
    pruned = compress.prune_weights(net, 0.8)
    assert compress.sparsity(pruned) == pytest.approx(0.8, abs=0.01)
    assert compress.sparsity(net) < 0.01
    assert compress.size_bytes(pruned) == compress.size_bytes(net)
    with pytest.raises(ValueError, match="amount"):
        compress.prune_weights(net, 1.0)
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        compress.prune_weights(nn.ReLU(), 0.5)


def test_latency_is_per_image_and_restores_threads():
    before = torch.get_num_threads()
    t = compress.latency(nn.Linear(8, 8), torch.rand(20, 8), repeats=3, threads=1)
    assert 0 < t < 0.01 and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="repeats"):
        compress.latency(nn.Linear(8, 8), torch.rand(2, 8), repeats=0)
    with pytest.raises(ValueError, match="images"):
        compress.latency(nn.Linear(8, 8), torch.rand(0, 8))
