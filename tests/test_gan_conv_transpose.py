"""The phase decomposition of a transposed convolution equals nn.ConvTranspose2d."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fashionlab.gan.conv_transpose import PhaseConvTranspose2d, phase_conv_transpose2d
from fashionlab.gan.models import DCGANGenerator
from fashionlab.models import create_model

# (in, out, kernel, stride, padding, output_padding, input size, bias)
LAYERS = [
    (256, 128, 5, 1, 2, 0, 7, False),  # the tutorial's first layer, "same" padding
    (128, 64, 5, 2, 2, 1, 7, False),  # its second, "same" with stride 2: 7 -> 14
    (64, 1, 5, 2, 2, 1, 14, False),  # its third: 14 -> 28
    (16, 8, 4, 2, 1, 0, 7, True),  # the lite generator's
    (3, 4, 3, 3, 1, 2, 5, True),  # phases of unequal sizes: no pixel shuffle
    (3, 4, 2, 3, 0, 0, 4, True),  # kernel < stride: some outputs are only the bias
    (3, 2, 5, 2, 4, 1, 6, False),  # padding wider than the taps of a phase
    (2, 3, 1, 1, 0, 0, 5, True),
]


def pair(cin, cout, k, s, p, op, bias):
    torch.manual_seed(0)
    native = nn.ConvTranspose2d(cin, cout, k, s, p, op, bias=bias)
    phase = PhaseConvTranspose2d(cin, cout, k, s, p, op, bias=bias)
    phase.load_state_dict(native.state_dict())
    return native, phase


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "op", "size", "bias"), LAYERS)
def test_outputs_and_gradients_equal_conv_transpose(cin, cout, k, s, p, op, size, bias):
    native, phase = pair(cin, cout, k, s, p, op, bias)
    x = torch.randn(3, cin, size, size + 1)  # not square: rows and columns apart
    x_native, x_phase = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_native, out_phase = native(x_native), phase(x_phase)
    assert out_phase.shape == out_native.shape
    torch.testing.assert_close(out_phase, out_native, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(out_native)
    (out_native * upstream).sum().backward()
    (out_phase * upstream).sum().backward()
    torch.testing.assert_close(x_phase.grad, x_native.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(phase.weight.grad, native.weight.grad, rtol=1e-4, atol=1e-4)
    if bias:
        torch.testing.assert_close(phase.bias.grad, native.bias.grad, rtol=1e-4, atol=1e-4)


def test_rows_and_columns_may_differ():
    torch.manual_seed(1)
    x, w, b = torch.randn(2, 3, 5, 6), torch.randn(3, 2, 4, 3), torch.randn(2)
    args = ((2, 1), (1, 0), (1, 0))
    expected = torch.nn.functional.conv_transpose2d(x, w, b, *args)
    torch.testing.assert_close(phase_conv_transpose2d(x, w, b, *args), expected)


def test_unsupported_settings_fall_back_to_the_native_kernel():
    torch.manual_seed(2)
    grouped = PhaseConvTranspose2d(4, 4, 3, 2, 1, 1, groups=2)
    dilated = PhaseConvTranspose2d(2, 3, 3, 2, 1, 1, dilation=2)
    for layer in (grouped, dilated):
        x = torch.randn(2, layer.in_channels, 5, 5)
        expected = nn.ConvTranspose2d.forward(layer, x)
        torch.testing.assert_close(layer(x), expected)
    x = torch.randn(2, 4, 5, 5)
    sized = PhaseConvTranspose2d(4, 2, 3, 2, 1)
    assert sized(x, output_size=[10, 10]).shape == (2, 2, 10, 10)  # output_size: native


def test_phase_dcgan_has_the_state_dict_and_function_of_the_native_one():
    torch.manual_seed(3)
    native, _ = create_model("dcgan", "gan")
    phase, _ = create_model("dcgan", "gan", conv_transpose="phase")
    assert {k: v.shape for k, v in phase.state_dict().items()} == \
        {k: v.shape for k, v in native.state_dict().items()}
    phase.load_state_dict(native.state_dict())
    z = torch.randn(4, 100)
    torch.testing.assert_close(phase.eval()(z), native.eval()(z), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="conv_transpose must be one of native, phase"):
        DCGANGenerator(conv_transpose="fast")
