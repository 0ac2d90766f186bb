"""The exercises of notebook 07 (train a classifier): correct answers pass, stubs are "not
attempted", and realistic wrong answers fail with the mistake the grader should name.

Every grading call uses a fixed seed for its hidden cases (SEEDS), so a failure here can be
reproduced exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop_lib import functional as F
from backprop_lib.data import load_digits, minibatches, train_test_split
from backprop_lib.grading.exercises import nb07_train_a_classifier as nb07
from backprop_lib.grading.registry import exercise_ids, get_exercise
from backprop_lib.layers import Dense
from backprop_lib.model import MLP

SEEDS = (0, 1)
NUMERIC = ("mlp_forward", "mlp_backward", "loss_and_grads", "sgd_step")


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_PROGRESS_FILE", str(tmp_path / "progress.json"))


def grade(exercise_id, answer, seed=0):
    return get_exercise(exercise_id).grade(answer, timeout=5.0, seed=seed)


def test_notebook_07_registers_its_five_exercises_in_order():
    assert exercise_ids(7) == ["mlp_forward", "mlp_backward", "loss_and_grads", "sgd_step",
                               "predict_digits"]
    for exercise_id in exercise_ids(7):
        exercise = get_exercise(exercise_id)
        assert exercise.points > 0 and len(exercise.hints) >= 3


# ---------------------------------------------------------------------------
# Correct answers, several routes each
# ---------------------------------------------------------------------------


def _forward_plain(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = np.maximum(Z1, 0)
    return A1 @ params["W2"] + params["b2"], (X, Z1, A1)


def _forward_einsum_where(X, params):
    Z1 = np.einsum("nd,dh->nh", X, params["W1"]) + params["b1"]
    A1 = np.where(Z1 > 0, Z1, 0.0)
    return np.einsum("nh,hk->nk", A1, params["W2"]) + params["b2"][None, :], (X, Z1, A1)


def _forward_library_pieces(X, params):
    """With notebook 07's fallbacks: the library's Dense layer and relu (allowed)."""
    def dense(A, W, b):
        layer = Dense(*W.shape)
        layer.params.update(W=W, b=b)
        return layer.forward(A)

    Z1 = dense(X, params["W1"], params["b1"])
    A1 = F.relu(Z1)
    return dense(A1, params["W2"], params["b2"]), (X, Z1, A1)


def _backward_plain(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1 = dlogits @ params["W2"].T
    dZ1 = dA1 * (Z1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dlogits,
            "b2": dlogits.sum(axis=0)}


def _backward_mask_from_output(dlogits, cache, params):
    """The mask from A1 > 0 is the same mask; gradients built in another order."""
    X, Z1, A1 = cache
    grads = {"b2": np.einsum("nk->k", dlogits), "W2": np.einsum("nh,nk->hk", A1, dlogits)}
    dZ1 = np.where(A1 > 0, dlogits @ params["W2"].T, 0.0)
    grads["W1"] = sum(np.outer(X[n], dZ1[n]) for n in range(len(X)))
    grads["b1"] = dZ1.sum(axis=0)
    return grads


def _backward_library_dense(dlogits, cache, params):
    """With notebook 07's dense_backward fallback (the library's Dense layer, allowed)."""
    X, Z1, A1 = cache

    def dense_backward(dZ, A, W):
        layer = Dense(*W.shape)
        layer.params["W"] = W
        layer.forward(A)
        dA = layer.backward(dZ)
        return dA, layer.grads["W"], layer.grads["b"]

    dA1, dW2, db2 = dense_backward(dlogits, A1, params["W2"])
    _, dW1, db1 = dense_backward(dA1 * (Z1 > 0), X, params["W1"])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _ce(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def _ce_grad(logits, y):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    S = e / e.sum(axis=1, keepdims=True)
    S[np.arange(len(y)), y] -= 1
    return S / len(y)


def _loss_plain(X, y, params):
    logits, cache = _forward_plain(X, params)
    return _ce(logits, y), _backward_plain(_ce_grad(logits, y), cache, params)


def _loss_library_losses(X, y, params):
    """With the loss fallbacks of notebook 07 (functional.cross_entropy*, allowed)."""
    logits, cache = _forward_einsum_where(X, params)
    grads = _backward_mask_from_output(F.cross_entropy_grad(logits, y), cache, params)
    return F.cross_entropy(logits, y), grads


def _loss_one_hot(X, y, params):
    logits, cache = _forward_plain(X, params)
    Y = np.eye(logits.shape[1])[y]
    S = F.softmax(logits)
    loss = -(Y * np.log(np.clip(S, 1e-300, None))).sum(axis=1).mean()
    return float(loss), _backward_plain((S - Y) / len(y), cache, params)


def _sgd_loop(params, grads, lr):
    for name in params:
        params[name] -= lr * grads[name]


def _sgd_slice_assign(params, grads, lr):
    for name, value in params.items():
        value[...] = value - lr * grads[name]


def _sgd_numpy_out(params, grads, lr):
    for name in sorted(grads):
        np.subtract(params[name], lr * grads[name], out=params[name])


CORRECT = {
    "mlp_forward": [_forward_plain, _forward_einsum_where, _forward_library_pieces],
    "mlp_backward": [_backward_plain, _backward_mask_from_output, _backward_library_dense],
    "loss_and_grads": [_loss_plain, _loss_library_losses, _loss_one_hot],
    "sgd_step": [_sgd_loop, _sgd_slice_assign, _sgd_numpy_out],
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, index",
                         [(ex, i) for ex, impls in CORRECT.items() for i in range(len(impls))])
def test_correct_answers_pass(exercise_id, index, seed):
    result = grade(exercise_id, CORRECT[exercise_id][index], seed=seed)
    assert result.status == "passed", str(result)
    assert result.score == result.points > 0 and result.diagnosis == []


@pytest.mark.parametrize("exercise_id", [*NUMERIC, "predict_digits"])
def test_stub_is_not_attempted(exercise_id):
    def stub(*args):
        raise NotImplementedError()

    result = grade(exercise_id, stub)
    assert result.status == "not attempted" and result.score == 0


@pytest.mark.parametrize("exercise_id", NUMERIC)
def test_reference_passes_through_the_same_adapters(exercise_id):
    """The reference, reshaped into the learner's interface, passes (the cases are right)."""
    exercise = get_exercise(exercise_id)
    answer = {"mlp_forward": lambda X, p: (exercise.reference(X, *p.values())[0],
                                           (X, *exercise.reference(X, *p.values())[1:])),
              "mlp_backward": lambda G, c, p: dict(zip(
                  nb07.PARAM_NAMES, exercise.reference(G, *c, *p.values()), strict=True)),
              "loss_and_grads": lambda X, y, p: (lambda out: (out[0], dict(zip(
                  nb07.PARAM_NAMES, out[1:], strict=True))))(exercise.reference(X, y, *p.values())),
              "sgd_step": _sgd_loop}[exercise_id]
    assert grade(exercise_id, answer, seed=5).status == "passed"


# ---------------------------------------------------------------------------
# Wrong answers and what the grader must say about them
# ---------------------------------------------------------------------------


def _forward_no_relu(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    return Z1 @ params["W2"] + params["b2"], (X, Z1, Z1)


def _forward_relu_on_logits(X, params):
    logits, cache = _forward_plain(X, params)
    return np.maximum(logits, 0), cache


def _forward_softmax(X, params):
    logits, cache = _forward_plain(X, params)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), cache


def _forward_in_place_relu(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = Z1
    A1[A1 < 0] = 0
    return A1 @ params["W2"] + params["b2"], (X, Z1, A1)


def _forward_column_convention(X, params):
    Z1 = X @ params["W1"].T + params["b1"]
    A1 = np.maximum(Z1, 0)
    return A1 @ params["W2"].T + params["b2"], (X, Z1, A1)


def _forward_no_b2(X, params):
    logits, cache = _forward_plain(X, params)
    return logits - params["b2"], cache


def _backward_no_mask(dlogits, cache, params):
    X, Z1, A1 = cache
    dA1 = dlogits @ params["W2"].T
    return {"W1": X.T @ dA1, "b1": dA1.sum(axis=0), "W2": A1.T @ dlogits,
            "b2": dlogits.sum(axis=0)}


def _backward_mask_too_late(dlogits, cache, params):
    """Computes dW1 and db1 first, applies the mask afterwards (to nothing that is returned)."""
    X, Z1, A1 = cache
    dA1 = dlogits @ params["W2"].T
    dW1, db1 = X.T @ dA1, dA1.sum(axis=0)
    dZ1 = dA1 * (Z1 > 0)  # noqa: F841 - the realistic bug: computed, never used
    return {"W1": dW1, "b1": db1, "W2": A1.T @ dlogits, "b2": dlogits.sum(axis=0)}


def _backward_relu_of_gradient(dlogits, cache, params):
    X, Z1, A1 = cache
    dZ1 = np.maximum(dlogits @ params["W2"].T, 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dlogits,
            "b2": dlogits.sum(axis=0)}


def _backward_transposed_dW(dlogits, cache, params):
    grads = _backward_plain(dlogits, cache, params)
    X, Z1, A1 = cache
    grads["W2"] = dlogits.T @ A1
    return grads


def _backward_db_axis1(dlogits, cache, params):
    grads = _backward_plain(dlogits, cache, params)
    grads["b2"] = dlogits.sum(axis=1)
    return grads


def _backward_extra_mean(dlogits, cache, params):
    return {k: v / len(dlogits) for k, v in _backward_plain(dlogits, cache, params).items()}


def _backward_recomputes_no_mean(dlogits, cache, params):
    return {k: v * len(dlogits) for k, v in _backward_plain(dlogits, cache, params).items()}


def _backward_negated(dlogits, cache, params):
    return {k: -v for k, v in _backward_plain(dlogits, cache, params).items()}


def _backward_dA_not_transposed(dlogits, cache, params):
    X, Z1, A1 = cache
    dZ1 = (dlogits @ params["W2"]) * (Z1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dlogits,
            "b2": dlogits.sum(axis=0)}


def _loss_missing_mean(X, y, params):
    logits, cache = _forward_plain(X, params)
    return _ce(logits, y), _backward_plain(_ce_grad(logits, y) * len(y), cache, params)


def _loss_double_softmax(X, y, params):
    logits, cache = _forward_plain(X, params)
    S = F.softmax(logits)
    return _ce(S, y), _backward_plain(_ce_grad(S, y), cache, params)


def _loss_y_minus_s(X, y, params):
    logits, cache = _forward_plain(X, params)
    return _ce(logits, y), _backward_plain(-_ce_grad(logits, y), cache, params)


def _loss_summed(X, y, params):
    logits, cache = _forward_plain(X, params)
    return _ce(logits, y) * len(y), _backward_plain(_ce_grad(logits, y), cache, params)


def _sgd_rebinds(params, grads, lr):
    for name in params:
        params[name] = params[name] - lr * grads[name]


def _sgd_loop_variable(params, grads, lr):
    for W, dW in zip(params.values(), (grads[k] for k in params), strict=True):
        W = W - lr * dW  # noqa: F841 - the realistic bug: rebinds the loop variable only


def _sgd_returns_new_dict(params, grads, lr):
    return {name: params[name] - lr * grads[name] for name in params}


def _sgd_uphill(params, grads, lr):
    for name in params:
        params[name] += lr * grads[name]


def _sgd_by_position(params, grads, lr):
    for W, dW in zip(params.values(), grads.values(), strict=True):
        W -= lr * dW


def _sgd_no_lr(params, grads, lr):
    for name in params:
        params[name] -= grads[name]


def _sgd_scales_grads_in_place(params, grads, lr):
    for name in params:
        grads[name] *= lr
        params[name] -= grads[name]


# (exercise, answer, mistake code or None, a fragment of the message that must appear)
WRONG = [
    ("mlp_forward", _forward_no_relu, None, "no ReLU"),
    ("mlp_forward", _forward_relu_on_logits, None, "ReLU to the logits"),
    ("mlp_forward", _forward_softmax, None, "softmax probabilities"),
    ("mlp_forward", _forward_in_place_relu, None, "same array"),
    ("mlp_forward", _forward_column_convention, "transposed", "transposed weight"),
    ("mlp_forward", _forward_no_b2, None, "bias b2"),
    ("mlp_backward", _backward_no_mask, None, "ignore the ReLU"),
    ("mlp_backward", _backward_mask_too_late, None, "after computing dW1"),
    ("mlp_backward", _backward_relu_of_gradient, None, "sign of the gradient"),
    ("mlp_backward", _backward_transposed_dW, "transposed", "A.T @ dZ"),
    ("mlp_backward", _backward_db_axis1, "bias_wrong_axis", "axis=1"),
    ("mlp_backward", _backward_extra_mean, None, "N times too small"),
    ("mlp_backward", _backward_recomputes_no_mean, "missing_batch_mean", "N times too large"),
    ("mlp_backward", _backward_negated, "sign", "opposite sign"),
    ("mlp_backward", _backward_dA_not_transposed, "transposed", "W2.T"),
    ("loss_and_grads", _loss_missing_mean, "missing_batch_mean", "(S - Y) / N"),
    ("loss_and_grads", _loss_double_softmax, None, "a second softmax"),
    ("loss_and_grads", _loss_y_minus_s, "sign", "(Y - S) / N"),
    ("loss_and_grads", _loss_summed, None, "sum over the batch"),
    ("sgd_step", _sgd_rebinds, None, "did not change the arrays"),
    ("sgd_step", _sgd_loop_variable, None, "did not change the arrays"),
    ("sgd_step", _sgd_returns_new_dict, None, "did not change the arrays"),
    ("sgd_step", _sgd_uphill, "sign", "uphill"),
    ("sgd_step", _sgd_by_position, None, "by position"),
    ("sgd_step", _sgd_no_lr, None, "learning rate"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("exercise_id, answer, code, fragment", WRONG,
                         ids=[answer.__name__ for _, answer, _, _ in WRONG])
def test_wrong_answer_is_named(exercise_id, answer, code, fragment, seed):
    result = grade(exercise_id, answer, seed=seed)
    assert result.status == "failed", str(result)
    assert result.score == 0
    if code is not None:
        assert code in result.diagnosis, str(result)
    assert fragment in str(result), str(result)


def test_sgd_step_that_changes_the_gradients_is_flagged():
    result = grade("sgd_step", _sgd_scales_grads_in_place)
    assert result.status == "failed" and "mutates_input" in result.diagnosis


def test_network_exercises_may_use_the_fallbacks_but_not_the_model():
    assert grade("mlp_forward", _forward_library_pieces).passed

    def via_library_loss(X, y, params):
        model = MLP([params["W1"].shape[0], params["W1"].shape[1], params["W2"].shape[1]])
        for layer, n in ((model.layers[0], "1"), (model.layers[2], "2")):
            layer.params.update(W=params["W" + n], b=params["b" + n])
        loss = model.loss(X, y)
        model.backward()
        return loss, {p.name: p.grad for p in model.parameters()}

    result = grade("loss_and_grads", via_library_loss)
    assert result.status == "failed" and result.diagnosis == ["uses_reference"]


@pytest.mark.parametrize("returned, fragment", [
    (lambda g: tuple(g.values()), "must return a dict"),
    (lambda g: {"d" + k: v for k, v in g.items()}, "has no entry 'W1'"),
])
def test_grads_in_the_wrong_container_get_a_clear_error(returned, fragment):
    result = grade("mlp_backward", lambda G, c, p: returned(_backward_plain(G, c, p)))
    assert result.status == "error" and fragment in result.message, str(result)


def test_forward_without_the_cache_gets_a_clear_error():
    result = grade("mlp_forward", lambda X, p: _forward_plain(X, p)[0])
    assert result.status == "error" and "(logits, cache)" in result.message, str(result)


def test_mutating_an_input_is_flagged():
    def forward_relu_on_X(X, params):
        np.maximum(X, 0, out=X)
        return _forward_plain(X, params)

    result = grade("mlp_forward", forward_relu_on_X)
    assert result.status == "failed" and "mutates_input" in result.diagnosis


# ---------------------------------------------------------------------------
# predict_digits: scored on the held-out split, by the grader
# ---------------------------------------------------------------------------


def test_held_out_split_is_the_notebooks():
    X, y = load_digits()
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    held_X, held_y = nb07.held_out_digits()
    assert np.array_equal(held_X, X_test) and np.array_equal(held_y, y_test)
    assert nb07.DIGITS_SPLIT == {"test_size": 0.25, "seed": 0}


@pytest.fixture(scope="module")
def trained():
    """A network trained like notebook 07's (fewer epochs): standardisation and params."""
    X, y = load_digits()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, seed=0)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 0.01
    model = MLP([64, 64, 10], seed=0)
    params = {p.name: p.value for p in model.parameters()}
    rng = np.random.default_rng(0)
    for _ in range(20):
        for X_batch, y_batch in minibatches((X_train - mean) / std, y_train, 32, seed=rng):
            _, grads = _loss_plain(X_batch, y_batch, params)
            _sgd_loop(params, grads, 0.1)
    return mean, std, params


def test_predict_alternatives_pass_and_report_the_accuracy(trained):
    mean, std, params = trained

    def by_logits(X):
        return _forward_plain((X - mean) / std, params)[0].argmax(axis=1)

    def by_probabilities_as_floats(X):
        return F.softmax(_forward_plain((X - mean) / std, params)[0]).argmax(axis=1).astype(float)

    def as_a_list(X):
        return [int(k) for k in by_logits(X)]

    held_X, held_y = nb07.held_out_digits()
    accuracy = np.mean(by_logits(held_X) == held_y)
    for answer in (by_logits, by_probabilities_as_floats, as_a_list):
        for seed in SEEDS:
            result = grade("predict_digits", answer, seed=seed)
            assert result.status == "passed", str(result)
            assert f"Held-out accuracy: {accuracy:.3f}" in result.message


def test_predict_never_sees_the_labels(trained):
    mean, std, params = trained
    seen = []

    def spy(*args):
        seen.append([np.shape(a) for a in args])
        return _forward_plain((args[0] - mean) / std, params)[0].argmax(axis=1)

    assert grade("predict_digits", spy).passed
    assert all(len(shapes) == 1 and shapes[0][1:] == (64,) for shapes in seen)


@pytest.mark.parametrize("answer_kind, fragment, code", [
    ("untrained", "close to guessing", None),
    ("not_standardised", "standardis", None),
    ("scores", "np.argmax(logits, axis=1)", "shape"),
    ("axis0", "axis=0", "wrong_axis"),
    ("constant", "says 3 for", None),
    ("one_based", "digit classes are 0 to 9", None),
    ("fractional", "not whole numbers", "dtype"),
])
def test_predict_mistakes_are_explained(trained, answer_kind, fragment, code):
    mean, std, params = trained
    untrained = {p.name: p.value for p in MLP([64, 64, 10], seed=5).parameters()}

    def logits(X, p=params, standardise=True):
        return _forward_plain((X - mean) / std if standardise else X, p)[0]

    answers = {
        "untrained": lambda X: logits(X, untrained).argmax(axis=1),
        "not_standardised": lambda X: logits(X, standardise=False).argmax(axis=1),
        "scores": lambda X: logits(X),
        "axis0": lambda X: logits(X).argmax(axis=0),
        "constant": lambda X: np.full(len(X), 3),
        "one_based": lambda X: logits(X).argmax(axis=1) + 1,
        "fractional": lambda X: F.softmax(logits(X)).max(axis=1),
    }
    result = grade("predict_digits", answers[answer_kind])
    assert result.status == "failed", str(result)
    assert fragment in str(result), str(result)
    if code is not None:
        assert code in result.diagnosis


def test_not_standardising_really_costs_accuracy(trained):
    """The 'not standardised' case above is a real failure, not a lucky threshold."""
    mean, std, params = trained
    held_X, held_y = nb07.held_out_digits()
    raw = np.mean(_forward_plain(held_X, params)[0].argmax(axis=1) == held_y)
    assert raw < nb07.MIN_ACCURACY
