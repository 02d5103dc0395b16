"""Every registered classifier: forward shape, features, no NaN, one training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.models import create_model, get_entry, model_names
from fashionlab.options import parse_key_values

CLASSIFIERS = model_names("classifier")


def test_the_registry_holds_the_promised_classifiers():
    assert {"mlp", "cnn", "resnet", "wrn"} <= set(CLASSIFIERS)
    assert all(get_entry(name).kind == "classifier" for name in CLASSIFIERS)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_forwards_exposes_features_and_trains(name):
    torch.manual_seed(0)
    model = create_model(name, "classifier")
    x = torch.randn(4, 1, 28, 28)
    y = torch.tensor([0, 3, 7, 9])

    logits = model(x)
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
    features = model.features(x)
    assert features.shape == (4, model.feature_dim) and torch.isfinite(features).all()

    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert all(changed), f"{sum(changed)}/{len(changed)} parameter tensors changed"
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


def test_cnn_pool_first_normalises_the_pooled_maps_with_the_same_parameters():
    plain = create_model("cnn", "classifier", widths=[8, 16, 16])
    pooled = create_model("cnn", "classifier", widths=[8, 16, 16], pool_first=True)
    shapes = {k: v.shape for k, v in plain.state_dict().items()}
    assert sorted(shapes.values()) == sorted(v.shape for v in pooled.state_dict().values())

    def first_norm_input(model) -> tuple[int, ...]:
        seen = []
        norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        handle = norm.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].shape))
        out = model(torch.randn(2, 1, 28, 28))
        handle.remove()
        assert out.shape == (2, 10) and torch.isfinite(out).all()
        return tuple(seen[0])

    assert first_norm_input(plain) == (2, 8, 28, 28)
    assert first_norm_input(pooled) == (2, 8, 14, 14)  # BatchNorm and ReLU after the pool
    assert pooled.features(torch.randn(2, 1, 28, 28)).shape == (2, 16)


def test_cnn_head_grid_keeps_the_position_of_the_last_maps():
    x = torch.randn(2, 1, 28, 28)
    for grid in (1, 3, 7):
        model = create_model("cnn", "classifier", widths=[8, 16, 16], pool_first=True,
                             head_grid=grid).eval()
        assert model.feature_dim == 16 * grid * grid == model.head.in_features
        with torch.no_grad():
            maps, features = model.body(x), model.features(x)
        assert model(x).shape == (2, 10)
        if grid == 1:  # the global average
            torch.testing.assert_close(features, maps.mean((2, 3)))
        elif grid == 7:  # every position of the 7x7 maps
            torch.testing.assert_close(features, maps.flatten(1))
        else:  # 3x3 cells; adaptive pooling makes the top-left cell the first 3x3 pixels
            torch.testing.assert_close(features.view(2, 16, 3, 3)[:, :, 0, 0],
                                       maps[:, :, :3, :3].mean((2, 3)))


@pytest.mark.parametrize("grid", [0, 8, -1, 2.5, "3", True])
def test_a_bad_cnn_head_grid_is_an_error(grid):
    with pytest.raises(FashionlabError, match="head_grid must be a whole number from 1 to 7"):
        create_model("cnn", "classifier", head_grid=grid)


def test_an_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(FashionlabError) as error:
        create_model("resnet9000", "classifier")
    message = str(error.value)
    assert "resnet9000" in message and all(name in message for name in CLASSIFIERS)


def test_a_model_argument_that_does_not_apply_is_an_error():
    with pytest.raises(FashionlabError) as error:
        create_model("mlp", "classifier", widths=[8, 16, 32])
    assert str(error.value) == ("model 'mlp' has no option 'widths'; its options and their "
                                'defaults: hidden=128, init="torch"')
    # the classes are Fashion-MNIST's ten: 5 crashed the training loop with an index error
    for name in ("mlp", "cnn", "cgan"):
        with pytest.raises(FashionlabError, match=f"'{name}' has no option 'num_classes'"):
            create_model(name, None, num_classes=5)
    with pytest.raises(FashionlabError, match="'resnet' does not accept"):
        create_model("resnet", "classifier", blocks=[1, 1])  # three stages expected
    with pytest.raises(FashionlabError, match="pool_first must be true or false"):
        create_model("cnn", "classifier", pool_first="yes")


@pytest.mark.parametrize(("name", "options", "message"), [
    ("cnn", {"widths": [8, 8]}, "widths must list 3 positive whole numbers, got [8, 8]"),
    ("cnn", {"widths": [0, 8, 8]}, "widths must list 3 positive whole numbers"),
    ("cnn", {"widths": [-1, 8, 8]}, "widths must list 3 positive whole numbers"),
    ("cnn", {"widths": [1.5, 8, 8]}, "widths must list 3 positive whole numbers"),
    ("cnn", {"widths": "abc"}, "widths must list 3 positive whole numbers, got 'abc'"),
    ("wrn", {"widths": 5}, "widths must list 3 positive whole numbers, got 5"),
    ("resnet", {"blocks": [1, 0, 1]}, "blocks must list 3 positive whole numbers"),
    ("cnn", {"dropout": 2}, "dropout probability has to be between 0 and 1"),
    ("mlp", {"hidden": -1}, "negative dimension"),
    ("mlp", {"hidden": 0}, "hidden.weight with no weights"),
    ("resnet", {"stem": 0}, "stem.weight with no weights"),
    ("dcgan", {"noise_dim": 0}, "with no weights"),  # a GAN's builder returns two networks
])
def test_a_bad_model_option_value_is_a_user_error(name, options, message):
    with pytest.raises(FashionlabError, match=f"'{name}' does not accept") as error:
        create_model(name, None, **options)
    assert message in str(error.value)


def test_models_command_lists_every_classifier_with_its_parameter_count(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in CLASSIFIERS:
        line = next(row for row in out.splitlines() if row.split()[:1] == [name])
        count = sum(p.numel() for p in create_model(name, "classifier").parameters())
        assert f"{count:,}" in line and "classifier" in line


def test_models_command_with_a_name_lists_its_options_as_model_arg_reads_them(capsys):
    assert main(["models", "cnn"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:2] == ["cnn", "classifier"]
    options = out.split("their defaults:\n")[1].split()
    assert options == ["widths=[32,64,128]", "dropout=0.0", "pool_first=false", "head_grid=1"]
    args = parse_key_values(options, "--model-arg")  # each line is a valid --model-arg
    assert create_model("cnn", "classifier", **args).feature_dim == 128
    assert main(["models", "vgg"]) == 2
    assert "unknown model 'vgg'" in capsys.readouterr().err


def test_the_mlp_can_start_from_keras_default_initialisation():
    model = create_model("mlp", "classifier", init="keras")
    assert torch.equal(model.hidden.bias, torch.zeros(128))
    bound = (6 / (784 + 128)) ** 0.5  # Glorot-uniform
    assert model.hidden.weight.abs().max() <= bound
    with pytest.raises(FashionlabError, match="init must be"):
        create_model("mlp", "classifier", init="he")
