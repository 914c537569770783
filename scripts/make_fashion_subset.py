#!/usr/bin/env python3
"""Cut the Fashion-MNIST subset bundled with graft from the full data set.

Takes the first 5,000 training and the first 1,000 test images with their labels,
and writes them in the original IDX gzip format under the original file names to
data-bundled/fashion-mnist-subset/ at the repository root.

    python3 scripts/make_fashion_subset.py [SOURCE_DIR]

SOURCE_DIR holds the four files of the full set, plain or gzipped; it defaults to
/usr/share/datasets/fashion-mnist (Debian's package dataset-fashion-mnist).
Only the standard library is used. The output is byte-for-byte reproducible: the
gzip headers carry no timestamp and no file name.
"""

import gzip
import os
import struct
import sys

DEFAULT_SOURCE = "/usr/share/datasets/fashion-mnist"
OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data-bundled", "fashion-mnist-subset"
)
# Base name -> number of items to keep.
CUTS = {
    "train-images-idx3-ubyte": 5000,
    "train-labels-idx1-ubyte": 5000,
    "t10k-images-idx3-ubyte": 1000,
    "t10k-labels-idx1-ubyte": 1000,
}
TYPE_U8 = 0x08


def read_idx(path):
    """Return (dims, body bytes) of an IDX u8 file, plain or gzip."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    zero0, zero1, type_code, ndims = data[:4]
    if (zero0, zero1, type_code) != (0, 0, TYPE_U8):
        sys.exit(f"{path}: not an IDX u8 file")
    dims = struct.unpack(f">{ndims}I", data[4 : 4 + 4 * ndims])
    return dims, data[4 + 4 * ndims :]


def cut(dims, body, n):
    """Return IDX bytes holding the first n items."""
    if n > dims[0]:
        sys.exit(f"asked for {n} items but the file has {dims[0]}")
    per_item = 1
    for d in dims[1:]:
        per_item *= d
    header = struct.pack(f">BBBB{len(dims)}I", 0, 0, TYPE_U8, len(dims), n, *dims[1:])
    return header + body[: n * per_item]


def find(source, name):
    """The path of `name` in `source`, plain preferred over gzipped."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(source, candidate)
        if os.path.isfile(path):
            return path
    sys.exit(f"{source}: found neither {name} nor {name}.gz")


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SOURCE
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, n in CUTS.items():
        dims, body = read_idx(find(source, name))
        # mtime=0 keeps the output identical from run to run.
        packed = gzip.compress(cut(dims, body, n), compresslevel=9, mtime=0)
        out = os.path.join(OUT_DIR, name + ".gz")
        with open(out, "wb") as f:
            f.write(packed)
        print(f"{os.path.normpath(out)}: {n} of {dims[0]} items, {len(packed)} bytes")


if __name__ == "__main__":
    main()
