"""sslbook.compress: file size, BatchNorm folding, int8 quantization (PT2E, torchao), pruning, sparsity
and latency. The quantization tests turn DeprecationWarning into an error: no deprecated path
(torch.ao.quantization's FX or eager mode) is taken."""
import platform
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

from sslbook import compress, models


def small_net():
    torch.manual_seed(0)
    net = models.encoder("small").net
    with torch.no_grad():                       # non-trivial batch norm statistics, as after training
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.1, 0.1)
    return net.eval()


@pytest.fixture
def no_deprecated():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        yield


def test_importing_compress_imports_no_quantization_code():
    code = "import sys, sslbook.compress; assert 'torchao' not in sys.modules, 'torchao imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fold_batchnorm_keeps_outputs_and_removes_batchnorm():
    net = small_net()
    folded = compress.fold_batchnorm(net)
    x = torch.rand(16, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())          # original untouched
    assert compress.size_bytes(folded) < compress.size_bytes(net)             # no running statistics
    with pytest.raises(ValueError, match="model"):
        compress.fold_batchnorm("net")


def test_quantized_encoder_is_int8_smaller_and_agrees(no_deprecated):
    net = compress.fold_batchnorm(small_net())
    x = torch.rand(64, 3, 32, 32)
    q = compress.quantize_int8(net, x)
    assert compress.size_bytes(q) < 0.3 * compress.size_bytes(net)
    weights = [v for k, v in q.state_dict().items() if v.ndim >= 2]
    assert len(weights) == 5 and all(w.dtype == torch.int8 for w in weights)   # 4 convolutions, 1 linear
    with torch.no_grad():
        a, b = net(x), q(x[:7])                                                # any batch size
    assert torch.nn.functional.cosine_similarity(a[:7], b, dim=1).min() > 0.98
    q.eval()                                                                   # works like any module
    assert all(p.dtype == torch.float32 for p in net.parameters())            # original untouched


@pytest.mark.skipif(platform.machine().lower() not in compress.X86_MACHINES, reason="oneDNN x86 kernels")
def test_lowered_model_runs_int8_kernels_with_the_same_outputs(no_deprecated):
    net = compress.fold_batchnorm(small_net())
    x = torch.rand(32, 3, 32, 32)
    q = compress.quantize_int8(net, x)
    low = compress.lower_x86(q, x[:1])
    assert any("onednn.qconv" in str(n.target) for n in low.graph.nodes)
    with torch.no_grad():
        ref = q(x[:4])
        got = torch.cat([low(x[i:i + 1]) for i in range(4)])
    assert torch.nn.functional.cosine_similarity(ref, got, dim=1).min() > 0.999
    assert compress.latency(low, x[:4], repeats=1) > 0
    with pytest.raises(ValueError, match="before lower_x86"):
        compress.size_bytes(low)
    with pytest.raises(ValueError, match="quantized"):
        compress.lower_x86(net, x[:1])


def activation_ranges(q):
    """The (quant_min, quant_max) of every activation quantize node in the converted graph."""
    return {(n.args[3], n.args[4]) for n in q.graph.nodes
            if n.op == "call_function" and "quantize_per_tensor" in str(n.target) and "dequantize" not in str(n.target)}


def test_activation_levels_follow_the_processor(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_vnni": False})
    levels, why = compress.int8_activation_levels()
    assert levels == 128 and "reduce_range" in why
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_vnni": True})
    assert compress.int8_activation_levels()[0] == 256
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_int8": True})
    assert compress.int8_activation_levels() == (256, "this processor has amx_int8: uint8 activations use all 256 levels")


def test_quantize_keeps_activations_in_the_levels_asked_for(no_deprecated):
    net, x = compress.fold_batchnorm(small_net()), torch.rand(16, 3, 32, 32)
    assert activation_ranges(compress.quantize_int8(net, x, activation_levels=128)) == {(0, 127)}
    assert activation_ranges(compress.quantize_int8(net, x, activation_levels=256)) == {(0, 255)}
    default = compress.int8_activation_levels()[0]
    assert activation_ranges(compress.quantize_int8(net, x)) == {(0, default - 1)}
    for bad in (127, 255, True, "256"):
        with pytest.raises(ValueError, match="activation_levels must be 128 or 256"):
            compress.quantize_int8(net, x, activation_levels=bad)


class DataDependent(nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x


def test_quantize_rejects_unexportable_models_and_bad_input(no_deprecated):
    with pytest.raises(ValueError, match="exported"):
        compress.quantize_int8(DataDependent(), torch.rand(4, 3, 8, 8))
    with pytest.raises(ValueError, match="at least 2"):
        compress.quantize_int8(small_net(), torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="calibration"):
        compress.quantize_int8(small_net(), torch.zeros(4, 3, 32, 32, dtype=torch.long))
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


@pytest.mark.parametrize("installed, match", [("0.10.0", "found 0.10.0"), (None, "not installed")])
def test_a_torchao_without_pt2e_is_refused_with_the_fix(monkeypatch, installed, match):
    """torchao 0.10 has no torchao.quantization.pt2e (checked against its wheel): say so and how to fix it."""
    from importlib import metadata

    def version(name):
        if installed is None:
            raise metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(metadata, "version", version)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    with pytest.raises(ImportError, match=f"torchao >= 0.11.*{match}|{match}.*pip install"):
        compress.quantize_int8(net, torch.rand(4, 3, 6, 6))


def test_the_declared_torchao_floor_is_the_one_the_code_checks(root):
    import re

    text = (root / "pyproject.toml").read_text()
    floor = re.search(r'"torchao>=([\d.]+)"', text).group(1)
    assert tuple(int(p) for p in floor.split(".")[:2]) == compress.TORCHAO_MINIMUM
