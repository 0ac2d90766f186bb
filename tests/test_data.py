"""Tests for backprop_lib.data: the shipped digits, spirals, splits and minibatches."""

import hashlib
from importlib import resources

import numpy as np
import pytest

from backprop_lib import data
from backprop_lib.data import load_digits, make_spiral, minibatches, train_test_split

# -- digits ---------------------------------------------------------------------


def test_shipped_digits_file_has_the_documented_checksum():
    path = resources.files("backprop_lib").joinpath("data", data.DIGITS_FILE)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == data.DIGITS_SHA256
    readme = resources.files("backprop_lib").joinpath("data", "README.md").read_text()
    assert digest in readme and "CC BY 4.0" in readme and "10.24432/C50P49" in readme


def test_load_digits_shapes_dtypes_and_range():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    counts = X * 16  # the documented scaling: original pixels are integers 0..16
    np.testing.assert_array_equal(counts, np.round(counts))


def test_load_digits_has_about_180_images_per_class():
    _, y = load_digits()
    counts = np.bincount(y)
    assert counts.size == 10 and counts.sum() == 1797
    assert counts.min() >= 170 and counts.max() <= 190


def test_digit_images_look_like_digits():
    # Images are centred: the border columns are much darker than the middle.
    X, _ = load_digits()
    images = X.reshape(-1, 8, 8)
    assert images[:, :, 0].mean() < 0.25 * images[:, :, 3:5].mean()


# -- spirals --------------------------------------------------------------------


def test_make_spiral_shapes_labels_and_dtypes():
    X, y = make_spiral(n_per_class=40, n_classes=4, noise=0.3, seed=0)
    assert X.shape == (160, 2) and X.dtype == np.float64
    assert y.shape == (160,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [40, 40, 40, 40])


def test_make_spiral_points_run_from_centre_to_unit_radius():
    X, y = make_spiral(n_per_class=50, n_classes=3, noise=0.5, seed=1)
    radius = np.linalg.norm(X, axis=1).reshape(3, 50)
    for arm in radius:  # the noise only moves the angle
        np.testing.assert_allclose(arm, np.linspace(0, 1, 50), atol=1e-12)


def test_make_spiral_is_seeded():
    a, _ = make_spiral(seed=3)
    b, _ = make_spiral(seed=3)
    c, _ = make_spiral(seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_make_spiral_arms_are_rotated_copies_without_noise():
    X, _ = make_spiral(n_per_class=30, n_classes=3, noise=0.0)
    arms = X.reshape(3, 30, 2)
    turn = 2 * np.pi / 3
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    np.testing.assert_allclose(arms[1], arms[0] @ rotation, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"n_per_class": 0}, ValueError), ({"n_classes": 2.0}, TypeError),
     ({"noise": -1.0}, ValueError)],
)
def test_make_spiral_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        make_spiral(**kwargs)


# -- train_test_split -----------------------------------------------------------


def labelled_rows(n=100):
    """Rows that carry their own index, in unbalanced classes: 60% 0, 30% 1, 10% 2."""
    X = np.arange(n, dtype=float)[:, None] * np.ones((1, 3))
    y = np.digitize(np.arange(n) / n, [0.6, 0.9])
    return X, y


def test_split_partitions_rows_and_keeps_labels_aligned():
    X, y = labelled_rows()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)
    assert X_tr.shape == (80, 3) and X_te.shape == (20, 3)
    rows = np.concatenate([X_tr[:, 0], X_te[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(rows), np.arange(100))
    np.testing.assert_array_equal(y_tr, y[X_tr[:, 0].astype(int)])
    np.testing.assert_array_equal(y_te, y[X_te[:, 0].astype(int)])


def test_stratified_split_keeps_class_proportions():
    X, y = labelled_rows()
    _, _, _, y_te = train_test_split(X, y, test_size=0.2, seed=1)
    np.testing.assert_array_equal(np.bincount(y_te), [12, 6, 2])


def test_stratified_split_on_digits_holds_out_each_class_evenly():
    X, y = load_digits()
    _, X_te, _, y_te = train_test_split(X, y, test_size=0.25, seed=0)
    assert len(y_te) == 449
    expected = np.bincount(y) * 449 / 1797
    assert np.all(np.abs(np.bincount(y_te) - expected) < 1)


def test_split_accepts_a_count_and_is_seeded():
    X, y = labelled_rows()
    first = train_test_split(X, y, test_size=30, seed=5, stratify=False)
    again = train_test_split(X, y, test_size=30, seed=5, stratify=False)
    other = train_test_split(X, y, test_size=30, seed=6, stratify=False)
    assert first[1].shape == (30, 3)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize(
    ("test_size", "error"),
    [(0.0, ValueError), (1.5, ValueError), (100, ValueError), ("10%", TypeError)],
)
def test_split_rejects_bad_test_size(test_size, error):
    X, y = labelled_rows()
    with pytest.raises(error, match="test_size"):
        train_test_split(X, y, test_size=test_size)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        train_test_split(np.zeros((5, 2)), np.zeros(4, dtype=int))


# -- minibatches ----------------------------------------------------------------


def test_minibatches_cover_every_row_once_in_batches_of_the_given_size():
    X, y = labelled_rows(100)
    batches = list(minibatches(X, y, batch_size=32, seed=0))
    assert [len(yb) for _, yb in batches] == [32, 32, 32, 4]
    rows = np.concatenate([Xb[:, 0] for Xb, _ in batches]).astype(int)
    np.testing.assert_array_equal(np.sort(rows), np.arange(100))
    assert not np.array_equal(rows, np.arange(100))  # shuffled
    for Xb, yb in batches:
        np.testing.assert_array_equal(yb, y[Xb[:, 0].astype(int)])


def test_minibatches_without_shuffle_keep_order():
    X, y = labelled_rows(10)
    rows = [Xb[:, 0].astype(int).tolist() for Xb, _ in minibatches(X, y, 4, shuffle=False)]
    assert rows == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_minibatches_share_a_generator_across_epochs():
    X, y = labelled_rows(20)
    rng = np.random.default_rng(0)
    epoch1 = np.concatenate([yb for _, yb in minibatches(X[:, 0], X[:, 0], 5, seed=rng)])
    epoch2 = np.concatenate([yb for _, yb in minibatches(X[:, 0], X[:, 0], 5, seed=rng)])
    assert not np.array_equal(epoch1, epoch2)
    again = np.concatenate([yb for _, yb in minibatches(X[:, 0], X[:, 0], 5, seed=0)])
    np.testing.assert_array_equal(epoch1, again)


def test_minibatches_reject_bad_batch_size():
    X, y = labelled_rows(10)
    with pytest.raises(ValueError, match="batch_size"):
        next(minibatches(X, y, 0))
