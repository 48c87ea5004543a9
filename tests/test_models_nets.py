"""The paper's networks: output shapes, parameter counts, parameter names, init, aliases, registry.

Reference numbers: torchvision's documented parameter counts (VGG-16 138,357,544; AlexNet
61,100,840) and key names (torchvision/models/vgg.py and alexnet.py layouts); the others are worked
out in the comments. Big nets are built on the meta device (no memory, no init cost) where only
shapes and names matter.
"""

import math

import pytest
import torch

from pl_powerlaw.connectivity import trace_chain
from pl_powerlaw.models.alexnet import AlexNet, AlexNetTorchvision
from pl_powerlaw.models.cifar_cnn import CifarCNN
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.mlp import MLP
from pl_powerlaw.models.registry import NETS, build_net
from pl_powerlaw.models.vgg import VGG16
from pl_powerlaw.nn import MaskedConv2d, MaskedLinear, masked_modules


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def on_meta(cls, **kwargs):
    with torch.device("meta"):
        return cls(**kwargs)


@pytest.mark.parametrize(
    ("cls", "batch"),
    [
        pytest.param(MLP, 3, id="mlp"),
        pytest.param(LeNet, 3, id="lenet"),
        pytest.param(CifarCNN, 3, id="cifar_cnn"),
        pytest.param(AlexNet, 1, id="alexnet"),
    ],
)
def test_forward_shape_on_a_real_batch(cls, batch):
    torch.manual_seed(0)
    net = cls().eval()
    out = net(torch.randn(batch, *cls.input_shape))
    assert out.shape == (batch, 1000 if cls is AlexNet else 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "cls", [pytest.param(VGG16, id="vgg16"), pytest.param(AlexNetTorchvision, id="alexnet_tv")]
)
def test_forward_shape_of_imagenet_nets(cls):
    net = on_meta(cls, num_classes=7)
    assert net(torch.empty(2, *cls.input_shape, device="meta")).shape == (2, 7)
    # adaptive pooling: another input size gives the same output shape
    assert net(torch.empty(1, 3, 256, 256, device="meta")).shape == (1, 7)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        # 784*1024+1024 + 1024*1024+1024 + 1024*10+10
        pytest.param(MLP, 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250, id="mlp"),
        # conv 1*32*25+32, conv 32*32*25+32, dense 512*256+256, dense 256*10+10
        pytest.param(LeNet, 832 + 25632 + 131328 + 2570, id="lenet"),
        # conv 896, 9248, 18496, 36928; dense 2304*512+512, 512*10+10
        pytest.param(CifarCNN, 896 + 9248 + 18496 + 36928 + 1180160 + 5130, id="cifar_cnn"),
        # Caffe AlexNet: conv 34944, 307456, 885120, 663936, 442624; fc 37752832, 16781312, 4097000
        pytest.param(AlexNet, 60_965_224, id="alexnet"),
        pytest.param(AlexNetTorchvision, 61_100_840, id="alexnet_tv"),
        pytest.param(VGG16, 138_357_544, id="vgg16"),
    ],
)
def test_parameter_counts(cls, expected):
    assert n_params(on_meta(cls)) == expected


VGG_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


@pytest.mark.parametrize(
    ("cls", "modules"),
    [
        pytest.param(
            VGG16,
            [f"features.{i}" for i in VGG_CONVS] + ["classifier.0", "classifier.3", "classifier.6"],
            id="vgg16",
        ),
        pytest.param(
            AlexNetTorchvision,
            [f"features.{i}" for i in (0, 3, 6, 8, 10)]
            + ["classifier.1", "classifier.4", "classifier.6"],
            id="alexnet_tv",
        ),
    ],
)
def test_torchvision_key_names(cls, modules):
    keys = list(on_meta(cls).state_dict())
    plain = [key for key in keys if not key.endswith("weight_mask")]
    assert plain == [f"{m}.{p}" for m in modules for p in ("weight", "bias")]
    assert [key for key in keys if key.endswith("weight_mask")] == [
        f"{m}.weight_mask" for m in modules
    ]


def test_vgg16_aliases():
    aliases = VGG16.layer_aliases
    expected_convs = [
        f"conv{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for i in range(1, n + 1)
    ]
    assert list(aliases) == [*expected_convs, "fc6", "fc7", "fc8"]
    assert [aliases[name] for name in expected_convs] == [f"features.{i}" for i in VGG_CONVS]
    assert (aliases["fc6"], aliases["fc7"], aliases["fc8"]) == (
        "classifier.0",
        "classifier.3",
        "classifier.6",
    )


@pytest.mark.parametrize(
    "cls", [pytest.param(VGG16, id="vgg16"), pytest.param(AlexNetTorchvision, id="alexnet_tv")]
)
def test_aliases_point_at_every_masked_layer(cls):
    net = on_meta(cls)
    assert sorted(cls.layer_aliases.values()) == sorted(name for name, _ in masked_modules(net))


@pytest.mark.parametrize(
    ("cls", "outputs", "n_masked"),
    [
        pytest.param(MLP, ("fc3",), 3, id="mlp"),
        pytest.param(LeNet, ("fc2",), 4, id="lenet"),
        pytest.param(CifarCNN, ("fc2",), 6, id="cifar_cnn"),
        pytest.param(AlexNet, ("fc8",), 8, id="alexnet"),
        pytest.param(AlexNetTorchvision, ("classifier.6",), 8, id="alexnet_tv"),
        pytest.param(VGG16, ("classifier.6",), 16, id="vgg16"),
    ],
)
def test_every_linear_and_conv_is_masked(cls, outputs, n_masked):
    net = on_meta(cls)
    assert net.output_layers == outputs
    assert len(net.input_shape) == 3
    layers = [m for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert all(isinstance(m, (MaskedLinear, MaskedConv2d)) for m in layers)
    assert len(list(masked_modules(net))) == n_masked
    assert outputs[0] in dict(masked_modules(net))


@pytest.mark.parametrize(
    ("cls", "nodes"),
    [
        pytest.param(MLP, [784, 1024, 1024], id="mlp"),
        pytest.param(CifarCNN, [3, 32, 32, 64, 64, 512], id="cifar_cnn"),
        pytest.param(AlexNet, [3, 96, 256, 384, 384, 256, 4096, 4096], id="alexnet"),
        pytest.param(AlexNetTorchvision, [3, 64, 192, 384, 256, 256, 4096, 4096], id="alexnet_tv"),
        pytest.param(
            VGG16, [3, 64, 64, 128, 128, 256, 256, 256] + [512] * 6 + [4096, 4096], id="vgg16"
        ),
    ],
)
def test_node_layers_of_every_net(cls, nodes):
    chain = trace_chain(on_meta(cls))
    assert [layer.n_nodes for layer in chain.node_layers] == nodes


def test_mlp_arguments():
    net = MLP(hidden=(16, 8, 4), num_classes=3, input_shape=(2, 5, 5))
    assert [name for name, _ in masked_modules(net)] == ["fc1", "fc2", "fc3", "fc4"]
    assert net.output_layers == ("fc4",) and net.input_shape == (2, 5, 5)
    assert net(torch.zeros(2, 2, 5, 5)).shape == (2, 3)
    net.train()
    assert net.in_dropout.p == 0.2 and net.hidden_dropout.p == 0.5


@pytest.mark.parametrize(
    ("build", "match"),
    [
        pytest.param(lambda: MLP(hidden=()), "`hidden`", id="hidden"),
        pytest.param(lambda: MLP(in_dropout=1.0), "`in_dropout`", id="in_dropout"),
        pytest.param(lambda: MLP(num_classes=0), "`num_classes`", id="classes"),
        pytest.param(lambda: LeNet(dropout=-0.1), "`dropout`", id="lenet_dropout"),
        pytest.param(lambda: LeNet(channels=(32,)), "`channels`", id="channels"),
    ],
)
def test_bad_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("cls", [pytest.param(MLP, id="mlp"), pytest.param(LeNet, id="lenet")])
def test_lasagne_glorot_uniform_init(cls):
    torch.manual_seed(0)
    for _, layer in masked_modules(cls()):
        w = layer.weight
        receptive = w[0, 0].numel() if w.dim() == 4 else 1
        bound = math.sqrt(6 / ((w.shape[0] + w.shape[1]) * receptive))  # Glorot & Bengio 2010
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.9 * bound  # the whole range is used
        assert torch.count_nonzero(layer.bias) == 0


def test_caffe_alexnet_init():
    torch.manual_seed(0)
    net = AlexNet()
    # bvlc_alexnet train_val.prototxt: weight std and bias constant per layer
    for name, std, bias in [
        ("conv1", 0.01, 0.0),
        ("conv2", 0.01, 0.1),
        ("fc6", 0.005, 0.1),
        ("fc8", 0.01, 0.0),
    ]:
        layer = getattr(net, name)
        assert layer.weight.std().item() == pytest.approx(std, rel=0.05)
        assert torch.all(layer.bias == bias)


def test_registry_builds_and_rejects():
    assert set(NETS) == {
        "mlp",
        "lenet",
        "cifar_cnn",
        "alexnet",
        "alexnet_torchvision",
        "vgg16",
        "recurrent",
        "multihead_mlp",
        "multihead_recurrent",
    }
    assert isinstance(build_net("mlp", hidden=(8,)), MLP)
    with pytest.raises(ValueError, match=r"Unknown net 'resnet'; expected one of \['alexnet'"):
        build_net("resnet")
