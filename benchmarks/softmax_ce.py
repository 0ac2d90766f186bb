"""Benchmark: the softmax cross-entropy loss and its gradient, computed three ways.

Part 1 compares, for K = 10, 100 and 1000 classes, the routes notebook 05 teaches:

- fused: ``softmax_cross_entropy`` -> ``(softmax - onehot) / N`` directly;
- VJP: softmax, then ``dL/ds``, then ``softmax_vjp`` (no Jacobian);
- Jacobian: softmax, ``dL/ds``, the batched ``(N, K, K)`` Jacobian and ``g @ J``.

Part 2 runs only when PyTorch happens to be importable (it is never a
dependency): backprop_lib's fused loss + gradient and its SoftmaxCrossEntropy
layer against ``torch.nn.functional.cross_entropy`` forward + backward at
(N, K) = (4096, 1000) float32, and one training step of a 64 -> 64 -> 10 ReLU
MLP in both libraries.

Every time is the MINIMUM over several rounds of the mean time per call in a
timed loop; the routes being compared are timed in turn within each round.
On a shared machine the minimum is the measurement least disturbed by other
processes. Run with ``--quick`` for fewer rounds.

Usage::

    python benchmarks/softmax_ce.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import timeit
from functools import partial

import numpy as np

from backprop_lib import functional as F

SEED = 0
JACOBIAN_BUDGET_BYTES = 512 * 2**20  # cap on the (N, K, K) Jacobian's memory
TORCH_SHAPE = (4096, 1000)
MLP_SIZES = (64, 64, 10)
MLP_BATCH = 128


def best_times(fns, repeat, loop_seconds=0.05):
    """Seconds per call of each function: the minimum over `repeat` rounds.

    The functions are timed in turn within every round (interleaved), so a
    burst of load from other processes hits all of them alike. Each timed loop
    runs a function as many times as fit in about `loop_seconds`.
    """
    timers = [timeit.Timer(fn) for fn in fns]
    numbers = []
    for timer in timers:
        number, elapsed = timer.autorange()  # calibrates: at least 0.2 s
        numbers.append(max(1, round(number * loop_seconds / elapsed)))
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number)
    return best


def make_logits(n, k, dtype, rng):
    """Standard-normal logits (N, K) and uniform labels (N,)."""
    z = rng.standard_normal((n, k)).astype(dtype)
    y = rng.integers(0, k, size=n)
    return z, y


# ---------------------------------------------------------------------------
# Part 1: fused vs VJP vs Jacobian
# ---------------------------------------------------------------------------


def loss_grad_wrt_probs(s, y):
    """Mean cross-entropy and ``dL/ds = -onehot / (N s)`` from probabilities s (N, K)."""
    n, k = s.shape
    rows = np.arange(n)
    loss = -np.mean(np.log(s[rows, y]))
    g = np.zeros_like(s)
    g[rows, y] = -1.0 / (n * s[rows, y])
    return loss, g


def jacobian_route(z, y):
    s = F.softmax(z)
    loss, g = loss_grad_wrt_probs(s, y)
    return loss, np.einsum("nk,nkj->nj", g, F.softmax_jacobian(s))


def vjp_route(z, y):
    s = F.softmax(z)
    loss, g = loss_grad_wrt_probs(s, y)
    return loss, F.softmax_vjp(s, g)


def fused_route(z, y):
    return F.softmax_cross_entropy(z, y)


def routes_table(repeat):
    rng = np.random.default_rng(SEED)
    print("Part 1: loss + dlogits, three routes (float64)")
    header = f"{'K':>5} {'N':>5} {'fused ms':>10} {'VJP ms':>10} {'Jacobian ms':>12} " \
             f"{'VJP/fused':>10} {'Jac/fused':>10} {'J MiB':>7}"
    print(header)
    for k in (10, 100, 1000):
        n = min(256, 2 ** int(np.log2(JACOBIAN_BUDGET_BYTES / (8 * k * k))))
        z, y = make_logits(n, k, np.float64, rng)
        reference = fused_route(z, y)[1]
        for route in (vjp_route, jacobian_route):
            assert np.allclose(route(z, y)[1], reference, atol=1e-12), route.__name__
        t_fused, t_vjp, t_jac = best_times(
            [partial(route, z, y) for route in (fused_route, vjp_route, jacobian_route)],
            repeat,
        )
        mib = n * k * k * 8 / 2**20
        print(f"{k:>5} {n:>5} {t_fused * 1e3:>10.3f} {t_vjp * 1e3:>10.3f} {t_jac * 1e3:>12.3f} "
              f"{t_vjp / t_fused:>9.1f}x {t_jac / t_fused:>9.1f}x {mib:>7.1f}")
    print()


# ---------------------------------------------------------------------------
# Part 2: against PyTorch, only if it is installed
# ---------------------------------------------------------------------------


def numpy_blas_threads():
    """Threads NumPy's BLAS will use: the usual environment variables, else all cores."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var])
    return os.cpu_count() or 1


def loss_pairs(torch):
    """(label, ours, theirs) callables for the fused loss at TORCH_SHAPE, float32."""
    from backprop_lib.layers import SoftmaxCrossEntropy

    rng = np.random.default_rng(SEED)
    z, y = make_logits(*TORCH_SHAPE, np.float32, rng)
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    yt = torch.from_numpy(y)
    layer = SoftmaxCrossEntropy()

    def fused():
        return F.softmax_cross_entropy(z, y)

    def with_layer():
        layer.forward(z, y)
        return layer.backward()

    def theirs():
        zt.grad = None
        loss = torch.nn.functional.cross_entropy(zt, yt)
        loss.backward()
        return loss.item()

    loss, grad = fused()
    assert np.isclose(loss, theirs(), rtol=1e-5)
    assert np.allclose(grad, zt.grad.numpy(), atol=1e-7)
    return [
        ("softmax_cross_entropy, loss + grad", fused, theirs),
        ("SoftmaxCrossEntropy layer, fwd + bwd", with_layer, theirs),
    ]


def mlp_pairs(torch):
    """(label, ours, theirs) for one SGD step of a 64-64-10 ReLU MLP, float32."""
    try:
        from backprop_lib.model import MLP
        from backprop_lib.optim import SGD
    except ImportError as exc:  # pragma: no cover - depends on the checkout
        print(f"(MLP row skipped: {exc})")
        return []
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    y = rng.integers(0, MLP_SIZES[-1], size=MLP_BATCH)
    model = MLP(list(MLP_SIZES), seed=SEED, dtype=np.float32)
    optimizer = SGD(lr=0.01)

    def ours():
        model.loss(X, y)
        model.backward()
        optimizer.step(model.parameters())

    torch.manual_seed(SEED)
    net = torch.nn.Sequential(
        torch.nn.Linear(MLP_SIZES[0], MLP_SIZES[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(MLP_SIZES[1], MLP_SIZES[2]),
    )
    torch_opt = torch.optim.SGD(net.parameters(), lr=0.01)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def theirs():
        torch_opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        loss.backward()
        torch_opt.step()

    return [(f"MLP 64-64-10 SGD step, batch {MLP_BATCH}", ours, theirs)]


def with_workers(fn, workers):
    """Run `fn` with the fused loss limited to `workers` threads (1 = single pass)."""

    def run():
        saved = F._WORKERS
        F._WORKERS = workers
        try:
            return fn()
        finally:
            F._WORKERS = saved

    return run


def torch_table(repeat):
    try:
        import torch
    except ImportError:
        print("Part 2 skipped: PyTorch is not installed (it is optional, never a dependency).")
        return
    blas = numpy_blas_threads()
    cores = F._WORKERS
    print(f"Part 2: backprop_lib vs torch {torch.__version__} (CPU), float32, "
          f"loss at {TORCH_SHAPE[0]}x{TORCH_SHAPE[1]}")
    print(f"Threads: the fused loss splits large batches over {cores} threads; NumPy's BLAS "
          f"(matmul) uses {blas}. Each row gives torch the same number of threads as ours.")
    rows = []
    for label, ours, theirs in loss_pairs(torch):
        rows.append((f"{label}, {cores} thr", ours, theirs, cores))
        rows.append((f"{label}, 1 thr", with_workers(ours, 1), theirs, 1))
    rows += [(label, ours, theirs, blas) for label, ours, theirs in mlp_pairs(torch)]
    width = max(len(row[0]) for row in rows)
    print(f"{'':<{width}} {'threads':>9} {'ours ms':>9} {'torch ms':>9} {'ours/torch':>11}")
    for label, ours, theirs, threads in rows:
        torch.set_num_threads(threads)
        t_ours, t_torch = best_times([ours, theirs], repeat)
        print(f"{label:<{width}} {torch.get_num_threads():>9} {t_ours * 1e3:>9.3f} "
              f"{t_torch * 1e3:>9.3f} {t_ours / t_torch:>10.2f}x")
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 15
    env = {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(f"numpy {np.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores; timings: min over {repeat} interleaved rounds; env {env}")
    print()
    routes_table(repeat)
    torch_table(repeat)


if __name__ == "__main__":
    main()
