"""The GPU path, measured: epoch times of fixed vs cross-reg, bf16 and channels_last, and how
many trials one GPU should hold (issue 13). No Ray (the GPU machine has none): trials run
through `trainables.Trial` on synthetic CIFAR-shaped data (3x32x32, 10 classes, a user
dataset `bench_gpu:synthetic_cifar`), one process each.

    python benchmarks/bench_gpu.py                  # on a CUDA machine: the full table
    python benchmarks/bench_gpu.py --tiny --device cpu   # seconds: checks the plumbing

Reports, for ResNet-18 and VGG-16 (noise family, every figure with the device's name):
1. median epoch seconds, fixed (sigma frozen at 0.1) vs cross-reg at (r, K) in {(1, 4),
   (10, 4), (40, 4)}, and their ratio;
2. the speedup of bf16 autocast and of channels_last over the plain fixed epoch;
3. throughput (training samples per second, all processes together) of 1, 2, 4 and 8
   concurrent trial processes on the one GPU, with the GPU utilisation nvidia-smi reports
   (sampled every 0.5 s): the figure behind `--gpus-per-trial` packing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATASET = "bench_gpu:synthetic_cifar"  # this module, importable with HERE on sys.path
SETTINGS = [(1, 4), (10, 4), (40, 4)]  # (r, K)
ROWS = int(os.environ.get("BENCH_GPU_ROWS", "10000"))


def synthetic_cifar() -> tuple[np.ndarray, ...]:
    """CIFAR-shaped data (uint8 images, 10 classes) from a fixed seed: timing needs shapes,
    not content. `BENCH_GPU_ROWS` training rows, a fifth of that as the test split."""
    rng = np.random.default_rng(0)
    n, m = ROWS, max(ROWS // 5, 10)
    x = rng.integers(0, 256, size=(n + m, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=n + m).astype(np.int64)
    return x[:n], y[:n], x[n:], y[n:]


def _config(model: str, device: str, **changes: Any) -> dict[str, Any]:
    return {"dataset": DATASET, "model": model, "family": "noise", "mode": "fixed", "rho": 0.1,
            "batch_size": 128, "reg_batch_size": 128, "eval_batch_size": 1024, "epochs": 1000,
            "device": device, **changes}


def epoch_seconds(config: dict[str, Any], epochs: int) -> float:
    """Median seconds of a training epoch (the first, warm-up, epoch left out)."""
    import torch

    from trainables.trial import Trial

    trial = Trial(config)
    s = trial.splits
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        trial.engine.train_epoch(s.train.x, s.train.y, s.reg.x, s.reg.y)
        if trial.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def _worker(config: dict[str, Any], epochs: int, queue: Any) -> None:
    sys.path.insert(0, HERE)
    from trainables.trial import Trial

    trial = Trial(config)
    s = trial.splits
    start = time.perf_counter()
    for _ in range(epochs):
        trial.engine.train_epoch(s.train.x, s.train.y, s.reg.x, s.reg.y)
    if trial.device.type == "cuda":
        import torch

        torch.cuda.synchronize()
    queue.put((len(s.train) * epochs, time.perf_counter() - start))


def _gpu_utilisation(stop: threading.Event, samples: list[float]) -> None:
    while not stop.wait(0.5):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True,
                                 text=True, timeout=5, check=False)
            samples.append(float(out.stdout.split()[0]))
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return


def concurrent_throughput(config: dict[str, Any], processes: int, epochs: int) -> dict[str, Any]:
    """Samples per second of `processes` trials training at once, and the GPU's utilisation."""
    ctx = mp.get_context("spawn")  # CUDA needs fresh processes
    queue = ctx.Queue()
    samples: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_gpu_utilisation, args=(stop, samples), daemon=True)
    sampler.start()
    start = time.perf_counter()
    procs = [ctx.Process(target=_worker, args=(config, epochs, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    done = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    stop.set()
    return {"processes": processes, "samples_per_s": sum(n for n, _ in done) / wall,
            "gpu_util_mean": statistics.mean(samples) if samples else None}


def main() -> None:
    sys.path.insert(0, HERE)
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement")
    parser.add_argument("--models", nargs="*", default=["resnet18", "vgg16"])
    parser.add_argument("--processes", nargs="*", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--tiny", action="store_true", help="256 rows, 1 epoch: a plumbing check")
    parser.add_argument("--json", metavar="F", help="also write the figures as JSON")
    args = parser.parse_args()
    if args.tiny:
        global ROWS
        ROWS = 256
        os.environ["BENCH_GPU_ROWS"] = "256"
        args.epochs, args.processes = 1, [1, 2]
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA device here; run it on a GPU machine (or --tiny --device cpu)")
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.machine() + " CPU"
    figures: dict[str, Any] = {"device": name, "date": time.strftime("%Y-%m-%d"), "rows": ROWS,
                               "torch": torch.__version__, "models": {}}
    print(f"device: {name}; torch {torch.__version__}; {ROWS} training rows; {figures['date']}")
    for model in args.models:
        fixed = epoch_seconds(_config(model, args.device), args.epochs)
        m: dict[str, Any] = {"fixed_epoch_s": fixed, "cross_reg": {}}
        print(f"\n{model}: fixed epoch {fixed:.2f} s")
        print("| r | K | cross-reg epoch s | x fixed |\n|---|---|---|---|")
        for r, k in SETTINGS:
            t = epoch_seconds(_config(model, args.device, mode="cross_reg", r=r, K=k), args.epochs)
            m["cross_reg"][f"r{r}K{k}"] = t
            print(f"| {r} | {k} | {t:.2f} | {t / fixed:.2f} |")
        for option in ("bf16", "channels_last"):
            t = epoch_seconds(_config(model, args.device, **{option: True}), args.epochs)
            m[f"{option}_speedup"] = fixed / t
            print(f"{option}: epoch {t:.2f} s, speedup x{fixed / t:.2f}")
        print("| processes | samples/s | GPU util % |\n|---|---|---|")
        m["concurrent"] = []
        for n in args.processes:
            row = concurrent_throughput(_config(model, args.device), n, args.epochs)
            m["concurrent"].append(row)
            util = "-" if row["gpu_util_mean"] is None else f"{row['gpu_util_mean']:.0f}"
            print(f"| {n} | {row['samples_per_s']:.0f} | {util} |")
        figures["models"][model] = m
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
