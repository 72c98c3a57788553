"""Reference: the bench's MLP (784-256-128-10, ReLU, Adam 1e-3, batch 128) in PyTorch CPU.

Run by `deno task bench trainer` when PyTorch is installed (Debian: python3-torch); prints one
JSON line {"samples_per_s": ..., "threads": ...}. Random inputs: only speed is compared here.
"""
import json
import os
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
torch.set_num_threads(int(os.environ.get("TORCH_THREADS", os.cpu_count() or 1)))
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
elapsed = time.perf_counter() - start
print(json.dumps({"samples_per_s": steps * batch / elapsed, "threads": torch.get_num_threads()}))
