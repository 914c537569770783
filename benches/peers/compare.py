"""Runs graft's examples and their PyTorch twins alternately and prints median ratios.

    python3 benches/peers/compare.py              # first run creates benches/peers/.venv
    python3 benches/peers/compare.py --runs 3 --threads 2 --workloads mnist,mnist_cnn

Setup is this one command: without --python, the script creates a virtual environment in
benches/peers/.venv and installs torch and numpy into it (PyPI), once. Each workload runs
graft, PyTorch, graft, PyTorch, ... (--runs of each), so slow drift of the machine hits
both alike; the figure compared is the mean whole-epoch training time each program prints
(`training: S s/epoch`), validation excluded, and the ratio is PyTorch's time over graft's
(above 1: graft is faster). The CPU model, thread count and date are printed with it. The
`*_jax` workloads compare against a jitted JAX twin instead (its first epoch, which
compiles, is left out of its time)."""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ)
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# name: (graft example, its extra flags, PyTorch twin, its extra flags)
WORKLOADS = {
    "mnist": ("mnist", [], "mnist.py", []),
    "mnist256": ("mnist", ["--batch-size", "256"], "mnist.py", ["--batch-size", "256"]),
    "mnist_cnn": ("mnist_cnn", [], "mnist_cnn.py", []),
    # The same MLP against a jitted JAX step (needs `pip install jax` in that Python).
    "mnist_jax": ("mnist", [], "mnist_jax.py", []),
    "mnist256_jax": ("mnist", ["--batch-size", "256"], "mnist_jax.py", ["--batch-size", "256"]),
    # Character models: one epoch over the word list; compared in training tokens/s.
    "char_lm_gru": ("char_lm", ["--model", "gru"], "char_lm.py", ["--model", "gru"]),
    "char_lm_transformer": ("char_lm", ["--model", "transformer"], "char_lm.py", ["--model", "transformer"]),
}


def venv_python():
    venv = os.path.join(HERE, ".venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {venv} with torch and numpy (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "torch", "numpy"], check=True)
    return python


def target_dir():
    """Where cargo puts the release examples (CARGO_TARGET_DIR and config respected)."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)["target_directory"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def seconds_per_epoch(cmd):
    """Seconds per epoch (or, for the character models, seconds per million training
    tokens, so that smaller is faster for every workload) and the test accuracy."""
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    tokens = re.findall(r"([0-9.]+) training tokens/s", out.stdout)
    if tokens:
        return 1e6 / float(tokens[-1]), float("nan")
    m = re.search(r"training: ([0-9.]+) s/epoch", out.stdout)
    acc = re.search(r"test accuracy: ([0-9.]+)%", out.stdout)
    if not m:
        sys.exit(f"{' '.join(cmd)} printed no 'training: S s/epoch' line:\n{out.stdout}")
    return float(m.group(1)), float(acc.group(1)) if acc else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: each example's own)")
    p.add_argument("--workloads", default="mnist,mnist256,mnist_cnn")
    p.add_argument("--data", default=None)
    p.add_argument("--python", default=None, help="a Python that has torch (default: the venv this creates)")
    args = p.parse_args()
    python = args.python or venv_python()
    # graft's pool reads RAYON_NUM_THREADS where an example has no --threads flag (char_lm).
    ENV["RAYON_NUM_THREADS"] = str(args.threads)
    names = args.workloads.split(",")
    examples = sorted({WORKLOADS[n][0] for n in names})
    build = ["cargo", "build", "--release", "-q"] + [a for e in examples for a in ("--example", e)]
    subprocess.run(build, cwd=ROOT, check=True)
    target = target_dir()
    common = ["--threads", str(args.threads)]
    if args.epochs:
        common += ["--epochs", str(args.epochs)]
    if args.data:
        common += ["--data", args.data]
    print(f"{cpu_model()}, {args.threads} threads, {datetime.date.today()}, medians of {args.runs} alternating runs")
    print("| workload | graft s/epoch (char_lm: s per 1M tokens) | peer (PyTorch; JAX for *_jax) | peer / graft | test accuracy graft / peer |")
    print("|---|---|---|---|---|")
    for name in names:
        example, graft_flags, twin, twin_flags = WORKLOADS[name]
        flags = common
        if example == "char_lm":
            # char_lm has no --threads (it uses rayon's default) and one epoch is enough.
            flags = ["--epochs", str(args.epochs or 1)]
        graft_cmd = [os.path.join(target, "release", "examples", example)] + flags + graft_flags
        twin_cmd = [python, os.path.join(HERE, twin)] + flags + twin_flags
        if example == "char_lm":
            twin_cmd += ["--threads", str(args.threads)]
        g, t = [], []
        for _ in range(args.runs):
            g.append(seconds_per_epoch(graft_cmd))
            t.append(seconds_per_epoch(twin_cmd))
        gs, ts = statistics.median(x for x, _ in g), statistics.median(x for x, _ in t)
        print(
            f"| {name} | {gs:.3f} | {ts:.3f} | {ts / gs:.2f} | "
            f"{statistics.median(a for _, a in g):.2f}% / {statistics.median(a for _, a in t):.2f}% |",
            flush=True,
        )


if __name__ == "__main__":
    main()
