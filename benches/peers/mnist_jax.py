"""JAX twin of examples/mnist.rs: Linear(784, 128) ReLU Linear(128, 10) with PyTorch's (and
graft's) default initialisation, Adam 1e-3 written out, batch 32, the same split, seeded
shuffling and whole-epoch timing as benches/peers/common.py, one `jax.jit`-compiled step
(forward, backward, Adam update). Loss and accuracy are accumulated on the device and read
once per epoch, as idiomatic JAX does. `python benches/peers/mnist_jax.py --threads 2`
(needs `pip install jax`)."""

import os
import sys
import time

import common

args = common.flags("JAX twin of graft's mnist example", batch_size=32, epochs=10)
if args.threads == 1:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
elif args.threads != os.cpu_count():
    sys.exit(f"mnist_jax.py: XLA uses 1 thread or all {os.cpu_count()} cores, not {args.threads}")

import jax  # noqa: E402  (after XLA_FLAGS)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

train_x, train_y, test_x, test_y = (t.numpy() for t in common.mnist(common.data_dir(args.data)))
rng = np.random.default_rng(args.seed)


def linear(fan_in, fan_out):
    bound = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
    b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return [jnp.asarray(w), jnp.asarray(b)]


params = linear(784, 128) + linear(128, 10)


def logits_of(p, x):
    return jnp.maximum(x @ p[0] + p[1], 0.0) @ p[2] + p[3]


def loss_of(p, x, y):
    logits = logits_of(p, x)
    lp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1)), logits


B1, B2, EPS = 0.9, 0.999, 1e-8


@jax.jit
def step(p, m, v, t, x, y):
    (loss, logits), g = jax.value_and_grad(loss_of, has_aux=True)(p, x, y)
    t = t + 1
    m = [B1 * mi + (1 - B1) * gi for mi, gi in zip(m, g)]
    v = [B2 * vi + (1 - B2) * gi * gi for vi, gi in zip(v, g)]
    c1, c2 = 1 - B1**t, 1 - B2**t
    p = [pi - args.lr / c1 * mi / (jnp.sqrt(vi / c2) + EPS) for pi, mi, vi in zip(p, m, v)]
    correct = jnp.sum(jnp.argmax(logits, 1) == y)
    return p, m, v, t, loss, correct


@jax.jit
def eval_batch(p, x, y):
    logits = logits_of(p, x)
    lp = jax.nn.log_softmax(logits)
    total = -jnp.sum(jnp.take_along_axis(lp, y[:, None], axis=1))
    return total, jnp.sum(jnp.argmax(logits, 1) == y)


def evaluate(p, x, y, batch=500):
    total, correct = 0.0, 0
    for i in range(0, x.shape[0], batch):
        t, c = eval_batch(p, x[i : i + batch], y[i : i + batch])
        total, correct = total + float(t), correct + int(c)
    return total / x.shape[0], correct / x.shape[0]


n = train_x.shape[0]
n_val = round(n * 0.1)
n_fit = n - n_val
fit_x, fit_y, val_x, val_y = train_x[:n_fit], train_y[:n_fit], train_x[n_fit:], train_y[n_fit:]
m = [jnp.zeros_like(q) for q in params]
v = [jnp.zeros_like(q) for q in params]
t = jnp.zeros((), jnp.float32)
seconds = []
for epoch in range(args.epochs):
    started = time.perf_counter()
    order = rng.permutation(n_fit)
    losses, corrects, seen = [], [], 0
    for i in range(0, n_fit, args.batch_size):
        idx = order[i : i + args.batch_size]
        params, m, v, t, loss, correct = step(params, m, v, t, fit_x[idx], fit_y[idx])
        losses.append(loss * len(idx))
        corrects.append(correct)
        seen += len(idx)
    total = float(jnp.sum(jnp.stack(losses)))
    acc = int(jnp.sum(jnp.stack(corrects))) / seen
    seconds.append(time.perf_counter() - started)
    val_started = time.perf_counter()
    val_loss, val_acc = evaluate(params, val_x, val_y)
    print(
        f"epoch {epoch + 1}: loss {total / seen:.4f} accuracy {acc:.4f} "
        f"val_loss {val_loss:.4f} val_accuracy {val_acc:.4f} "
        f"seconds {seconds[-1]:.3f} val_seconds {time.perf_counter() - val_started:.3f}"
    )
# The first epoch includes jit compilation of the step (and of the last, shorter batch's
# shape): report the mean of the others when there are any, as a warmed-up JAX program runs.
timed = seconds[1:] if len(seconds) > 1 else seconds
per_epoch = sum(timed) / len(timed)
print(f"training: {per_epoch:.3f} s/epoch ({n_fit / per_epoch:.0f} images/s), peak RSS {common.peak_rss_mib():.0f} MiB")
test_loss, test_acc = evaluate(params, test_x, test_y)
print(f"test loss: {test_loss:.4f}")
print(f"test accuracy: {100 * test_acc:.2f}%")
