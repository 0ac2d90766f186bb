"""Notebook 07's two speed claims, measured side by side in one run.

Usage::

    python benchmarks/training_nb07.py

1. **BLAS threads.** The digits recipe of notebook 07 (64 -> 256 -> 10, ReLU, minibatches
   of 32, 50 epochs, plain SGD with a cosine learning rate), trained once with BLAS limited
   to one thread (``threadpoolctl.threadpool_limits``, as the notebook's ``blas_threads()``
   does) and once with BLAS's own default, alternating, three runs each. Prints the median
   times, their ratio and the held-out accuracy (identical in both: threads change speed,
   not results, up to rounding).
2. **Explorer responsiveness.** Builds the training explorer and times one update per
   control (each slider moved once, at its most expensive setting, and the button), i.e.
   training plus drawing plus PNG rendering, what a learner waits for.

Timings depend on what else the machine is doing; the ratio in (1) is the number to read.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from backprop_lib.data import load_digits, minibatches, train_test_split
from backprop_lib.model import MLP
from backprop_lib.optim import SGD
from backprop_lib.widgets import TrainingExplorer

EPOCHS, LR, BATCH, HIDDEN = 50, 0.1, 32, 256


def train_digits():
    """Notebook 07's digits recipe with the library's MLP; returns the held-out accuracy."""
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 0.01
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    model = MLP([64, HIDDEN, 10], seed=0)
    model.layers[-1].params["W"] *= 0.1
    rng = np.random.default_rng(0)
    for epoch in range(EPOCHS):
        optimizer = SGD(lr=LR * 0.5 * (1 + np.cos(np.pi * epoch / EPOCHS)))
        for X_batch, y_batch in minibatches(X_train, y_train, BATCH, seed=rng):
            model.loss(X_batch, y_batch)
            model.backward()
            optimizer.step(model.parameters())
    return float(np.mean(model.predict(X_test) == y_test))


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def blas_threads_comparison(runs=3):
    default = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    times = {"1 thread": [], f"default ({default[0] if default else '?'} threads)": []}
    accuracy = {}
    for _ in range(runs):
        for label in times:
            if label == "1 thread":
                with threadpool_limits(limits=1, user_api="blas"):
                    seconds, accuracy[label] = timed(train_digits)
            else:
                seconds, accuracy[label] = timed(train_digits)
            times[label].append(seconds)
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, value in medians.items():
        print(f"digits, {label:<22} median {value:6.2f} s over {runs} runs, "
              f"held-out accuracy {accuracy[label]:.3f}")
    one, other = medians.values()
    print(f"ratio default / 1 thread: {other / one:.2f}")


def explorer_updates():
    build, explorer = timed(TrainingExplorer)
    print(f"explorer: build (first training + drawing) {build:.2f} s")
    moves = (("hidden H -> 100", explorer.hidden_slider, 100),
             ("epochs -> 600", explorer.epochs_slider, 600),
             ("learning rate -> 3", explorer.lr_slider, 3.0))
    for label, control, value in moves:
        seconds, _ = timed(lambda c=control, v=value: setattr(c, "value", v))
        print(f"explorer: {label:<22} {seconds:.2f} s (training alone {explorer.seconds:.2f} s)")
    seconds, _ = timed(explorer.train_button.click)
    print(f"explorer: button, {explorer.frames} frames  {seconds:.2f} s "
          f"(training alone {explorer.seconds:.2f} s)")


if __name__ == "__main__":
    blas_threads_comparison()
    explorer_updates()
