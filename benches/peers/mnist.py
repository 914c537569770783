"""PyTorch twin of examples/mnist.rs: Linear(784, 128) ReLU Linear(128, 10), PyTorch's
default initialisation (graft's Linear uses the same), Adam 1e-3, batch 32, 10 epochs,
validation split 0.1. `python benches/peers/mnist.py --threads 2`."""

import torch

import common

args = common.flags("PyTorch twin of graft's mnist example", batch_size=32, epochs=10)
torch.manual_seed(args.seed)
train_x, train_y, test_x, test_y = common.mnist(common.data_dir(args.data))
model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
common.train(model, lambda x: x, args, train_x, train_y, test_x, test_y)
