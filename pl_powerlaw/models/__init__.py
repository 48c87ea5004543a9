"""Networks of the paper (plain ``nn.Module``) and the LightningModules that train them."""

from pl_powerlaw.models.alexnet import AlexNet, AlexNetTorchvision
from pl_powerlaw.models.cifar_cnn import CifarCNN
from pl_powerlaw.models.classifier import ImageClassifier
from pl_powerlaw.models.lenet import LeNet
from pl_powerlaw.models.mlp import MLP
from pl_powerlaw.models.multihead import MultiHeadMLP
from pl_powerlaw.models.multitask import MultiTaskClassifier
from pl_powerlaw.models.presets import PRUNING_PRESETS, preset_fractions
from pl_powerlaw.models.recurrent import MultiHeadRecurrentNet, RecurrentNet
from pl_powerlaw.models.registry import NETS, build_net
from pl_powerlaw.models.vgg import VGG16
from pl_powerlaw.models.vision import torchvision_available, torchvision_model

__all__ = [
    "MLP",
    "NETS",
    "PRUNING_PRESETS",
    "RecurrentNet",
    "VGG16",
    "AlexNet",
    "AlexNetTorchvision",
    "CifarCNN",
    "ImageClassifier",
    "LeNet",
    "MultiHeadMLP",
    "MultiHeadRecurrentNet",
    "MultiTaskClassifier",
    "build_net",
    "preset_fractions",
    "torchvision_available",
    "torchvision_model",
]
