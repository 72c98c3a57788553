"""Reference: the zoo's models (mlp, cnn, gpt) in PyTorch CPU, for `deno task bench models`.

The same architectures, initializations, optimizer (Adam with the same learning rate and
epsilon 1e-7) and batch as the toolkit's:

  speed MODEL CONFIG_JSON BATCH STEPS
      training throughput (examples/s) at 1 thread and at all cores, random inputs; prints
      {"threads": {"1": rate, "2": rate}, "blas": the BLAS library loaded}.
  gpt-loss CONFIG_JSON TRAIN_IDS VAL_IDS STEPS BATCH LR SEED
      trains the GPT STEPS steps on windows of the int32 token ids in TRAIN_IDS and prints
      {"val_loss": mean cross-entropy per position over every window of VAL_IDS}.

Needs PyTorch (Debian: python3-torch; with libopenblas0-pthread for a fast BLAS).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch


def set_threads(threads):
    """Sets PyTorch's thread count, then flushes subnormals to zero on the thread that runs ops.

    Subnormal floats slow PyTorch's CPU kernels down several-fold in some runs; flushing gives its
    best and steady speed, the stricter reference (the toolkit never flushes: its bits must not
    depend on the CPU's modes). The flush must follow set_num_threads, which can reset it.
    """
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def glorot(linear):
    torch.nn.init.xavier_uniform_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    return linear


def mlp(config):
    hidden = config.get("hidden", [256, 128])
    layers, width = [], config.get("inputs", 784)
    for units in hidden:
        layers += [glorot(torch.nn.Linear(width, units)), torch.nn.ReLU()]
        width = units
    layers.append(glorot(torch.nn.Linear(width, config.get("classes", 10))))
    return torch.nn.Sequential(*layers)


class Cnn(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        h, w, c = config.get("image", [28, 28, 1])
        k = config.get("kernelSize", 3)
        self.image = (c, h, w)
        layers = []
        for filters in config.get("filters", [8, 16]):
            conv = torch.nn.Conv2d(c, filters, k)
            torch.nn.init.xavier_uniform_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
            layers += [conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
            c, h, w = filters, (h - k + 1) // 2, (w - k + 1) // 2
        layers.append(torch.nn.Flatten())
        width = c * h * w
        for units in config.get("hidden", []):
            layers += [glorot(torch.nn.Linear(width, units)), torch.nn.ReLU()]
            width = units
        layers.append(glorot(torch.nn.Linear(width, config.get("classes", 10))))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.view(-1, *self.image))


class Block(torch.nn.Module):
    def __init__(self, width, heads, hidden):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(width, eps=1e-5)
        self.qkv = glorot(torch.nn.Linear(width, 3 * width))
        self.proj = glorot(torch.nn.Linear(width, width))
        self.ln2 = torch.nn.LayerNorm(width, eps=1e-5)
        self.up = glorot(torch.nn.Linear(width, hidden))
        self.down = glorot(torch.nn.Linear(hidden, width))

    def forward(self, x):
        b, t, c = x.shape
        d = c // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(c, 2)
        q, k, v = (z.view(b, t, self.heads, d).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        attention = scores.masked_fill(mask, float("-inf")).softmax(-1)
        y = (attention @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.proj(y)
        return x + self.down(torch.nn.functional.gelu(self.up(self.ln2(x))))


class Gpt(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        vocab, context = config["vocab"], config.get("context", 64)
        width, heads = config.get("width", 64), config.get("heads", 4)
        hidden = round(width * config.get("mlpRatio", 4))
        self.tokens = torch.nn.Embedding(vocab, width)
        torch.nn.init.normal_(self.tokens.weight, 0, 0.02)
        self.positions = torch.nn.Parameter(torch.randn(context, width) * 0.02)
        self.blocks = torch.nn.Sequential(
            *[Block(width, heads, hidden) for _ in range(config.get("depth", 2))]
        )
        self.ln = torch.nn.LayerNorm(width, eps=1e-5)
        self.head = glorot(torch.nn.Linear(width, vocab))
        self.vocab = vocab
        self.context = context

    def forward(self, ids):
        return self.head(self.ln(self.blocks(self.tokens(ids) + self.positions)))


def build(name, config):
    return {"mlp": mlp, "cnn": Cnn, "gpt": Gpt}[name](config)


def loss_of(name, model, x, y):
    out = model(x)
    if name == "gpt":
        return torch.nn.functional.cross_entropy(out.reshape(-1, model.vocab), y.reshape(-1))
    return torch.nn.functional.cross_entropy(out, y)


def batches(name, config, batch, count):
    if name == "gpt":
        t, v = config.get("context", 64), config["vocab"]
        return torch.randint(0, v, (count, batch, t)), torch.randint(0, v, (count, batch, t))
    inputs = config.get("inputs", 784)
    if name == "cnn":
        h, w, c = config.get("image", [28, 28, 1])
        inputs = h * w * c
    return torch.rand(count, batch, inputs), torch.randint(0, config.get("classes", 10), (count, batch))


def blas_library():
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line or "mkl" in line}
    return ",".join(sorted(os.path.basename(p) for p in paths)) or "builtin"


def speed(name, config, batch, steps, only=None):
    results = {}
    for threads in [only] if only else sorted({1, os.cpu_count() or 1}):
        set_threads(threads)
        torch.manual_seed(0)
        model = build(name, config)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        x, y = batches(name, config, batch, min(steps, 64))

        def step(i):
            opt.zero_grad(set_to_none=True)
            loss_of(name, model, x[i % len(x)], y[i % len(y)]).backward()
            opt.step()

        for i in range(20):
            step(i)
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        results[str(threads)] = steps * batch / (time.perf_counter() - start)
    print(json.dumps({"threads": results, "blas": blas_library()}))


def windows(path, context):
    ids = torch.from_numpy(np.fromfile(path, dtype="<i4").astype(np.int64))
    count = (len(ids) - 1) // context
    x = ids[: count * context].view(count, context)
    y = ids[1 : count * context + 1].view(count, context)
    return x, y


def gpt_loss(config, train_path, val_path, steps, batch, lr, seed):
    set_threads(1)
    torch.manual_seed(seed)
    context = config.get("context", 64)
    model = build("gpt", config)
    opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    x, y = windows(train_path, context)
    order = torch.randperm(len(x))
    at = 0
    for _ in range(steps):
        if at + batch > len(order):
            order, at = torch.randperm(len(x)), 0
        idx = order[at : at + batch]
        at += batch
        opt.zero_grad(set_to_none=True)
        loss_of("gpt", model, x[idx], y[idx]).backward()
        opt.step()
    vx, vy = windows(val_path, context)
    with torch.no_grad():
        total = sum(loss_of("gpt", model, vx[i : i + 256], vy[i : i + 256]).item() * len(vx[i : i + 256])
                    for i in range(0, len(vx), 256))
    print(json.dumps({"val_loss": total / len(vx)}))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "speed":
        speed(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
              int(sys.argv[6]) if len(sys.argv) > 6 else None)
    elif command == "gpt-loss":
        gpt_loss(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]),
                 int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]))
    else:
        sys.exit(f"unknown command {command}")
