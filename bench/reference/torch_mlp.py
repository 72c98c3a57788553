"""Reference: the bench's MLP (784-256-128-10, ReLU, Adam 1e-3, batch 128) in PyTorch CPU.

Run by `deno task bench trainer` when PyTorch is installed (Debian: python3-torch; its speed
depends on the BLAS Debian's alternatives select: reference BLAS is ~4x slower than OpenBLAS,
`apt-get install libopenblas0-pthread`). Tries 1 thread and all cores and prints the best as one
JSON line {"samples_per_s", "threads", "blas"}. Random inputs: only speed is compared here.
"""
import json
import os
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128


def blas_library():
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line or "mkl" in line}
    return ",".join(sorted(os.path.basename(p) for p in paths)) or "builtin"


def measure(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(steps, batch, 784)
    y = torch.randint(0, 10, (steps, batch))

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[i]), y[i])
        loss.backward()
        opt.step()

    for i in range(20):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps * batch / (time.perf_counter() - start)


results = {t: measure(t) for t in sorted({1, os.cpu_count() or 1})}
best = max(results, key=results.get)
print(json.dumps({"samples_per_s": results[best], "threads": best, "blas": blas_library()}))
