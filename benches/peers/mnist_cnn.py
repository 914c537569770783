"""PyTorch twin of examples/mnist_cnn.rs: Conv(1->32, 3) ReLU MaxPool2 -> Conv(32->64, 3)
ReLU MaxPool2 -> Flatten -> Linear(1600, 128) ReLU -> Linear(128, 10), PyTorch's default
initialisation (graft's layers use the same), Adam 1e-3, batch 64, 3 epochs, validation
split 0.1. `python benches/peers/mnist_cnn.py --threads 2`."""

import torch
from torch import nn

import common

args = common.flags("PyTorch twin of graft's mnist_cnn example", batch_size=64, epochs=3)
torch.manual_seed(args.seed)
train_x, train_y, test_x, test_y = common.mnist(common.data_dir(args.data))
model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10),
)
common.train(model, lambda x: x.reshape(-1, 1, 28, 28), args, train_x, train_y, test_x, test_y)
