"""Train-step time of ddc_tf next to the same network and loss written plainly in PyTorch,
plus the conv step's FLOPs against the machine's measured matmul peak (roofline fraction).

    pip install torch==2.13.0          # benchmark-only (CPU build); never a ddc_tf dependency
    python benchmarks/torch_reference.py [--steps 30] [--rounds 3] [--policies float32 mixed_bfloat16]

The PyTorch side is the common reference style for DDC: the paper's CNN (conv5×5·32 → pool →
ReLU → conv5×5·64 → pool → ReLU → Dense(100) → ReLU → BatchNorm → Dense(k) → softmax), the loss
with ``torch.cdist`` squared distances, σ² = 0.15 · median of the upper-triangle squared
distances (``torch.median`` of the ``triu`` entries), a Gaussian kernel and the three
Cauchy–Schwarz / orthogonality terms, Adam(1e-3), eager mode. ``mixed_bfloat16`` on the
PyTorch side is ``torch.autocast("cpu", dtype=torch.bfloat16)`` (loss in float32).

Both are timed in the same process on the same machine, batch 100, interleaved in rounds
(the machine is shared; the median over all steps is reported): ddc_tf through ``model.fit``
(a callback records the time between batch ends) with as many steps per call of the
compiled function as ``train_run`` uses (``training.steps_per_call``; the time per call
divided by them) and, as ``ddc_tf_one_step_per_call_ms``, one step per call; PyTorch by
timing each eager step.
The figure is ``ratio = ddc_tf step time / PyTorch step time`` (< 1: ddc_tf is faster).

FLOPs of the conv step: counted analytically (multiply-adds × 2 of every conv / dense layer,
forward; backward = 2× forward except the first conv, which needs no input gradient), the
loss's O(m²d) terms included. Peak: the best float32 SGEMM rate of numpy and of TensorFlow
(2048×2048), measured before and after every timing round (the machine is shared; the best
of all is kept, the list is written too). Roofline fraction = achieved FLOP/s (FLOPs ÷ median
step time) ÷ that peak.

``--threads N`` gives both frameworks the same N threads (on this shared 2-core machine the
published run uses ``--threads 1``: at 2 threads PyTorch's steps were dominated by thread
stalls under the other engineers' load).

Writes ``benchmarks/results/torch_reference.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's OpenMP threads spin-wait at barriers; on a shared, oversubscribed machine that
# made its steps take seconds (measured: 1.1–5 s per step at 2 threads, load ~13).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _threads_from_argv() -> int:
    """--threads N must take effect before TensorFlow initialises (parsed early)."""
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 0


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras
import numpy as np
import tensorflow as tf

from common import StepTimes, write_results
from ddc_tf.experiments import training
from ddc_tf.models import DDC

if _threads_from_argv() > 0:
    # intra-op only (= torch.set_num_threads); inter-op left at its default, as PyTorch's
    # inter-op pool is (a first run that also set TF inter-op=1 gave 137.5 ms per TF step,
    # against 33.8 ms at default threads in an earlier run: it starves tf.data and the step).
    tf.config.threading.set_intra_op_parallelism_threads(_threads_from_argv())

BATCH = 100
K = 10
SHAPE = (28, 28, 1)


# ----------------------------------------------------------------------------- PyTorch
def torch_model_and_step(policy: str):
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(1, 32, 5), nn.MaxPool2d(2), nn.ReLU(),
                nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
            )
            self.hidden = nn.Sequential(nn.Linear(1024, 100), nn.ReLU(), nn.BatchNorm1d(100))
            self.out = nn.Linear(100, K)

        def forward(self, x):
            h = self.hidden(self.backbone(x))
            return h, torch.softmax(self.out(h).float(), dim=1)

    def cs(a, kernel):
        n = a.T @ kernel @ a
        n = torch.clamp(n, min=1e-9)
        d = torch.diagonal(n)
        r = n / torch.sqrt(torch.clamp(d[:, None] * d[None, :], min=1e-18))
        k = a.shape[1]
        return torch.triu(r, diagonal=1).sum() / (k * (k - 1) / 2)

    def ddc_loss(hidden, a, rel_sigma=0.15):
        hidden = hidden.float()
        dist = torch.cdist(hidden, hidden) ** 2
        m = dist.shape[0]
        iu = torch.triu_indices(m, m, offset=1)
        sigma_sq = torch.clamp(rel_sigma * torch.median(dist.detach()[iu[0], iu[1]]), min=1e-9)
        kernel = torch.exp(-dist / (2 * sigma_sq))
        l1 = cs(a, kernel)
        l2 = torch.triu(a @ a.T, diagonal=1).sum() / (m * (m - 1) / 2)
        corners = torch.eye(K, dtype=a.dtype)
        mm = torch.exp(-torch.cdist(a, corners) ** 2)
        l3 = cs(mm, kernel)
        return l1 + l2 + l3

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    bf16 = policy == "mixed_bfloat16"

    def step(x):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden, a = net(x)
        loss = ddc_loss(hidden, a)
        loss.backward()
        opt.step()
        return loss

    return step


# ----------------------------------------------------------------------------- ddc_tf
def tf_model(policy: str, dataset, steps_per_call: int = 1):
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = DDC(K, backbone="conv")
    model.build((None, *SHAPE))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=steps_per_call)
    model.fit(dataset, steps_per_epoch=2 * steps_per_call, epochs=1, verbose=0)  # trace
    keras.mixed_precision.set_global_policy("float32")
    return model


# ----------------------------------------------------------------------------- FLOPs
def conv_step_flops(batch: int = BATCH, hidden: int = 100, k: int = K) -> dict:
    """Analytic FLOPs (2 per multiply-add) of one training step of the paper's CNN."""
    conv1 = 24 * 24 * 32 * 5 * 5 * 1  # MACs per example
    conv2 = 8 * 8 * 64 * 5 * 5 * 32
    dense1 = 1024 * hidden
    dense2 = hidden * k
    fwd = 2 * batch * (conv1 + conv2 + dense1 + dense2)
    bwd = 2 * fwd - 2 * batch * conv1  # weight + input grads; conv1 needs no input grad
    m = batch
    loss = 3 * (2 * m * m * hidden + 2 * 2 * m * m * k)  # distances + two bᵀKb, ~×3 for fwd+bwd
    return {"forward": fwd, "backward": bwd, "loss_approx": loss, "total": fwd + bwd + loss}


def matmul_peak(n: int = 2048, repeats: int = 5) -> dict:
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    flops = 2 * n**3
    best_np = min(_timed(lambda: a @ b) for _ in range(repeats))
    ta, tb = tf.constant(a), tf.constant(b)
    mm = tf.function(lambda: tf.matmul(ta, tb))
    mm().numpy()
    best_tf = min(_timed(lambda: mm().numpy()) for _ in range(repeats))
    return {"n": n, "numpy_gflops": flops / best_np / 1e9, "tf_gflops": flops / best_tf / 1e9,
            "peak_gflops": max(flops / best_np, flops / best_tf) / 1e9}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for BOTH frameworks (TF intra-op, torch.set_num_threads); 0 = their defaults")
    args = parser.parse_args()
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x = rng.random((4 * BATCH, *SHAPE), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(BATCH, drop_remainder=True).repeat().prefetch(2)
    x_torch = [torch.from_numpy(np.ascontiguousarray(x[i * BATCH:(i + 1) * BATCH].transpose(0, 3, 1, 2)))
               for i in range(4)]

    rows = []
    peaks: list[dict] = [matmul_peak(repeats=3)]
    flops = conv_step_flops()
    # ddc_tf as train_run trains (several steps per call of the compiled function), and
    # one step per call (plain model.fit): the A/B of training.steps_per_call
    per_call = training.steps_per_call(args.steps, args.steps)
    for policy in args.policies:
        models = {"ddc_tf": tf_model(policy, dataset, per_call), "one_per_call": tf_model(policy, dataset)}
        step = torch_model_and_step(policy)
        for i in range(3):
            step(x_torch[i % 4])  # warm up
        times: dict[str, list[float]] = {name: [] for name in models}
        torch_times = []
        for _ in range(args.rounds):
            for name, model in models.items():
                timer = StepTimes()
                model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[timer])
                times[name].extend(timer.intervals)
            for i in range(args.steps):
                start = time.perf_counter()
                step(x_torch[i % 4]).item()
                torch_times.append(time.perf_counter() - start)
            peaks.append(matmul_peak(repeats=3))  # interleaved: the best moment is kept
        tf_s, torch_s = float(np.median(times["ddc_tf"])), float(np.median(torch_times))
        one_s = float(np.median(times["one_per_call"]))
        rows.append({
            "policy": policy, "batch": BATCH, "ddc_tf_steps_per_call": per_call,
            "ddc_tf_ms_per_step": 1e3 * tf_s, "torch_ms_per_step": 1e3 * torch_s,
            "ddc_tf_one_step_per_call_ms": 1e3 * one_s,
            "ratio_tf_over_torch": tf_s / torch_s,
            "ddc_tf_examples_per_s": BATCH / tf_s, "torch_examples_per_s": BATCH / torch_s,
            "ddc_tf_achieved_gflops": flops["total"] / tf_s / 1e9,
            "torch_achieved_gflops": flops["total"] / torch_s / 1e9,
            "intervals_timed": {"ddc_tf": len(times["ddc_tf"]), "one_per_call": len(times["one_per_call"]),
                                "torch": len(torch_times)},
        })
        print(f"{policy:<16} ddc_tf {1e3 * tf_s:7.1f} ms ({per_call}/call; {1e3 * one_s:.1f} at 1/call)  "
              f"torch {1e3 * torch_s:7.1f} ms  ratio {tf_s / torch_s:5.2f}", flush=True)
    peak = max(peaks, key=lambda p: p["peak_gflops"])
    peak["all_measurements_gflops"] = [round(p["peak_gflops"], 1) for p in peaks]
    for row in rows:
        row["ddc_tf_roofline_fraction"] = row["ddc_tf_achieved_gflops"] / peak["peak_gflops"]
        row["torch_roofline_fraction"] = row["torch_achieved_gflops"] / peak["peak_gflops"]
    print(f"conv step {flops['total'] / 1e9:.2f} GFLOP; SGEMM peak {peak['peak_gflops']:.1f} GFLOP/s; "
          + "; ".join(f"{r['policy']}: ddc_tf {100 * r['ddc_tf_roofline_fraction']:.1f}% "
                      f"torch {100 * r['torch_roofline_fraction']:.1f}% of peak" for r in rows))
    path = write_results("torch_reference", {
        "rows": rows, "conv_step_flops": flops, "matmul_peak": peak,
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "threads_arg": args.threads,
        "tf_threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                       "inter": tf.config.threading.get_inter_op_parallelism_threads()},
        "load_avg": os.getloadavg(),
        "command": "python benchmarks/torch_reference.py " + " ".join(sys.argv[1:]),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
