"""PyTorch twin of examples/char_lm.rs: the same word list (lower-cased, deduplicated, at
most 24 characters, a seeded 80/10/10 split by word), the same batches of 64 words
(boundary token, the word, padding; summed cross-entropy over the predicted characters),
the same models and Adam 3e-3. It prints the same `N training tokens/s` per epoch.

    python benches/peers/char_lm.py --model gru --threads 2 --epochs 1
"""

import argparse
import random
import time

import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["gru", "transformer"], default="gru")
p.add_argument("--data", default="/usr/share/dict/words")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--max-len", type=int, default=24)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
rng = random.Random(args.seed)

with open(args.data) as f:
    words = sorted({w.strip().lower() for w in f if w.strip() and len(w.strip()) <= args.max_len})
rng.shuffle(words)
chars = sorted({c for w in words for c in w})
index = {c: i + 1 for i, c in enumerate(chars)}  # 0 is the word boundary
vocab = len(chars) + 1
encoded = [[index[c] for c in w] for w in words]
n_train, n_val = len(encoded) * 8 // 10, len(encoded) // 10
train, val = encoded[:n_train], encoded[n_train : n_train + n_val]
IGNORE = -100


def batch(ws):
    length = max(len(w) for w in ws) + 1
    x = torch.zeros(len(ws), length, dtype=torch.long)
    y = torch.full((len(ws), length), IGNORE, dtype=torch.long)
    for i, w in enumerate(ws):
        x[i, 1 : len(w) + 1] = torch.tensor(w)
        y[i, : len(w)] = torch.tensor(w)
        y[i, len(w)] = 0
    return x, y, sum(len(w) + 1 for w in ws)


class GruLm(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(vocab, 32)
        self.gru = nn.GRU(32, 128, num_layers=2, batch_first=True)
        self.head = nn.Linear(128, vocab)

    def forward(self, x):
        return self.head(self.gru(self.emb(x))[0])


class TransformerLm(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(args.max_len + 1, d)
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, x):
        length = x.shape[1]
        h = self.emb(x) + self.pos(torch.arange(length))
        mask = nn.Transformer.generate_square_subsequent_mask(length)
        return self.head(self.enc(h, mask=mask, is_causal=True))


model = GruLm() if args.model == "gru" else TransformerLm()
opt = torch.optim.Adam(model.parameters(), lr=args.lr)
loss_fn = nn.CrossEntropyLoss(reduction="sum", ignore_index=IGNORE)
for epoch in range(1, args.epochs + 1):
    rng.shuffle(train)
    total, count = 0.0, 0
    start = time.perf_counter()
    for i in range(0, len(train), args.batch):
        x, y, n = batch(train[i : i + args.batch])
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits.reshape(-1, vocab), y.reshape(-1))
        total += loss.item()
        count += n
        (loss / n).backward()
        opt.step()
    secs = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        vt, vc = 0.0, 0
        for i in range(0, len(val), 256):
            x, y, n = batch(val[i : i + 256])
            vt += loss_fn(model(x).reshape(-1, vocab), y.reshape(-1)).item()
            vc += n
    model.train()
    print(f"epoch {epoch}: train {total / count:.4f} nats/char, validation {vt / vc:.4f}; {count / secs:.0f} training tokens/s")
