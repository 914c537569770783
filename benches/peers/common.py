"""Shared pieces of the PyTorch twins of graft's examples: the same IDX data, the same
Keras-style split (the last tenth of the training set held out for validation), the same
per-epoch shuffling of the rest, and the same whole-epoch timing and output lines as
graft's examples print, so that benches/peers/compare.py can read both the same way."""

import argparse
import gzip
import os
import resource
import struct
import time

import numpy as np
import torch

SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
BUNDLED_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "data-bundled", "fashion-mnist-subset")


def flags(description, batch_size, epochs):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default=None, help="directory with the IDX files (as graft's --data)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    return p.parse_args()


def data_dir(explicit):
    """The directory graft's examples would pick, in the same order."""
    for d in [explicit, os.environ.get("GRAFT_DATA"), "data/fashion-mnist", SYSTEM_DIR, BUNDLED_DIR]:
        if d and any(os.path.isfile(os.path.join(d, "train-images-idx3-ubyte" + s)) for s in ["", ".gz"]):
            return d
    raise SystemExit("no Fashion-MNIST found (install dataset-fashion-mnist or pass --data)")


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(directory, name):
    for suffix in ["", ".gz"]:
        path = os.path.join(directory, name + suffix)
        if os.path.isfile(path):
            return read_idx(path)
    raise SystemExit(f"{directory}: missing {name}")


def mnist(directory):
    """(train_x, train_y, test_x, test_y) as float32 [N, 784] in [0, 1] and int64 labels."""
    def split(images, labels):
        x = load(directory, images).reshape(-1, 28 * 28).astype(np.float32) / 255.0
        y = load(directory, labels).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)

    tx, ty = split("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    ex, ey = split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return tx, ty, ex, ey


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train(model, images_of, args, train_x, train_y, test_x, test_y):
    """fit's loop: hold out the last tenth, shuffle the rest each epoch (seeded), Adam,
    cross-entropy; time each whole epoch (batches, forward, backward, step, metrics),
    validation timed apart. Prints the lines graft's examples print."""
    torch.set_num_threads(args.threads)
    n = train_x.shape[0]
    n_val = round(n * 0.1)
    n_fit = n - n_val
    fit_x, fit_y = train_x[:n_fit], train_y[:n_fit]
    val_x, val_y = train_x[n_fit:], train_y[n_fit:]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    seconds = []
    for epoch in range(args.epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(n_fit, generator=gen)
        total, correct, seen = 0.0, 0, 0
        for i in range(0, n_fit, args.batch_size):
            idx = order[i : i + args.batch_size]
            x, y = images_of(fit_x[idx]), fit_y[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
        seconds.append(time.perf_counter() - started)
        val_started = time.perf_counter()
        val_loss, val_acc = evaluate(model, images_of, val_x, val_y)
        print(
            f"epoch {epoch + 1}: loss {total / seen:.4f} accuracy {correct / seen:.4f} "
            f"val_loss {val_loss:.4f} val_accuracy {val_acc:.4f} "
            f"seconds {seconds[-1]:.3f} val_seconds {time.perf_counter() - val_started:.3f}"
        )
    per_epoch = sum(seconds) / max(len(seconds), 1)
    print(f"training: {per_epoch:.3f} s/epoch ({n_fit / per_epoch:.0f} images/s), peak RSS {peak_rss_mib():.0f} MiB")
    test_loss, test_acc = evaluate(model, images_of, test_x, test_y)
    print(f"test loss: {test_loss:.4f}")
    print(f"test accuracy: {100 * test_acc:.2f}%")


def evaluate(model, images_of, x, y, batch=500):
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            logits = model(images_of(x[i : i + batch]))
            target = y[i : i + batch]
            total += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    return total / x.shape[0], correct / x.shape[0]
