"""Name the mistake behind a failed case: the stages of the diagnosis, and how they combine.

After a case fails, :func:`diagnose_mismatch` (wrong values or shape) or
:func:`diagnose_exception` (the learner's code raised) collects
:class:`~backprop_lib.grading.mistakes.Finding` objects from these stages, in
this order:

1. **wrong variants** on the failing case: the exercise's hand-written wrong
   implementations (``NumericExercise.variants``) that the answer reproduces;
2. **transforms** of the right answer on the failing case
   (:mod:`~backprop_lib.grading.transforms`): outputs in another order,
   transposed, reshaped, negated, scaled by a wrong normaliser;
3. **the shape error** (exceptions only, :mod:`~backprop_lib.grading.shape_errors`):
   which product failed and which arrangement of its operands fits;
4. **probes** (:mod:`~backprop_lib.grading.probes`), only when stages 1-3 leave
   an output unexplained: the learner's function runs through the executor on
   the exercise's small probe inputs, where stages 1 and 2 run again and the
   answer is decomposed on the formula's terms
   (:mod:`~backprop_lib.grading.decomposition`).

Codes are reported once each, in the order found; each keeps the first (most
specific) sentence found for it. Findings without a code become notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .conversion import ConversionProblem
from .decomposition import FIT_RTOL, decompose
from .mistakes import Finding
from .shape_errors import explain_shape_error
from .transforms import close_enough, multiple_of, transform_findings

__all__ = ["Diagnosis", "diagnose_mismatch", "diagnose_exception", "variant_findings"]


@dataclass
class Diagnosis:
    """What the stages found.

    Attributes
    ----------
    findings : list of Finding
        In the order found.
    notes : list of str
        Context sentences without a code (e.g. "on small inputs your function is right").
    """

    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def add(self, findings):
        """Append `findings`, skipping a code already found for the same outputs.

        The same code may be found for two different outputs (``dW`` and ``db`` both
        divided by N): both sentences are kept. A (code, sentence) pair is never repeated.
        """
        for f in findings:
            if (f.code, f.sentence) in {(g.code, g.sentence) for g in self.findings}:
                continue
            if f.code is not None and any(
                    g.code == f.code and (not g.outputs or not f.outputs
                                          or set(f.outputs) <= set(g.outputs))
                    for g in self.findings):
                continue
            self.findings.append(f)

    def explained_outputs(self, n_outputs):
        """Indices of the outputs some (not weak) finding explains."""
        out = set()
        for f in self.findings:
            if not f.weak:
                out |= set(f.outputs) if f.outputs else set(range(n_outputs))
        return out


# ---------------------------------------------------------------------------
# stage 1: wrong variants
# ---------------------------------------------------------------------------


def _variant_matches(exercise, case, got, expected, rtol, atol):
    """``[(Finding, overreach)]`` for every wrong variant that `got` reproduces.

    An output counts when the learner is wrong there, the variant is wrong
    there, and the learner's output equals the variant's (outputs are compared
    one by one, so two mistakes in two outputs are both named). `overreach` is
    True when the variant is also wrong in outputs the learner got right.
    """
    found = []
    for variant in exercise.variants:
        wrong = exercise._run_variant(variant, case)
        if wrong is None or len(wrong) != len(got):
            continue
        outputs, overreach = [], False
        for i, (g, w, e) in enumerate(zip(got, wrong, expected, strict=True)):
            if close_enough(w, e, rtol, atol):
                continue
            if close_enough(g, e, rtol, atol):
                overreach = True
                continue
            if close_enough(g, w, max(rtol, 1e-5), atol, equal_nan=True):
                outputs.append(i)
        if outputs:
            found.append((Finding(variant.code, variant.sentence,
                                  tuple(outputs) if exercise.output_names else ()), overreach))
    return found


def variant_findings(exercise, case, got, expected, rtol, atol):
    """Findings for every wrong variant whose output `got` reproduces (see _variant_matches)."""
    return [f for f, _ in _variant_matches(exercise, case, got, expected, rtol, atol)]


# ---------------------------------------------------------------------------
# stage 4: probes
# ---------------------------------------------------------------------------


def _plain_outputs(value, n):
    """(list of float arrays, fit tolerance) for the probe's output, or (None, None)."""
    if isinstance(value, ConversionProblem) or not isinstance(value, list) or len(value) != n:
        return None, None
    arrays, rtol = [], FIT_RTOL
    for arr in value:
        arr = np.asarray(arr)
        if arr.dtype.kind not in "iuf":
            return None, None
        if arr.dtype.kind == "f":
            rtol = max(rtol, 30 * float(np.finfo(arr.dtype).eps))
        arrays.append(np.asarray(arr, dtype=np.float64))
    return arrays, rtol


def _dims(exercise, args):
    if exercise.dims is None:
        return {}
    try:
        return dict(exercise.dims(*args))
    except Exception:  # noqa: BLE001 - dims are only for messages
        return {}


_USABLE_MEMO = {}


def _usable(exercise, runs):
    """``[(case, got, expected, fit_rtol)]`` for the probes whose output could be read.

    Memoised for the last list of runs (the references of the probes are computed once
    per failed check, however many stages ask).
    """
    key = (id(exercise), id(runs))
    if key in _USABLE_MEMO and _USABLE_MEMO[key][0] is runs:
        return _USABLE_MEMO[key][1]
    usable = []
    for run in runs:
        if run.kind != "ok":
            continue
        expected = exercise._reference(run.case)
        got, fit_rtol = _plain_outputs(run.value, len(expected))
        if got is not None:
            usable.append((run.case, got, expected, fit_rtol))
    _USABLE_MEMO.clear()
    _USABLE_MEMO[key] = (runs, usable)
    return usable


def _probe_ratios(exercise, probe_runs):
    """``ratios(i) -> [(r, dims)]``: output i as a multiple of the right one on each probe."""
    if exercise.probes is None:
        return None

    def ratios(i):
        out = []
        for case, got, expected, _fit_rtol in _usable(exercise, probe_runs()):
            r = multiple_of(got[i], expected[i])
            if r is not None:
                out.append((r, _dims(exercise, case.args)))
        return out

    return ratios


def _probe_stage(exercise, runs, text_dims=None):
    """(Diagnosis, ran, all_right) from the probe runs (sentences quote `text_dims`)."""
    found = Diagnosis()
    usable = _usable(exercise, runs)
    if not usable:
        return found, False, False
    right = []
    decomposable = []
    for case, got, expected, _fit_rtol in usable:
        rtol, atol = exercise._tolerance(case)
        ok = all(close_enough(g, e, rtol, atol) for g, e in zip(got, expected, strict=True))
        right.append(ok)
        if ok:
            continue
        found.add(variant_findings(exercise, case, got, expected, rtol, atol))
        found.add(transform_findings(got, expected, names=exercise.output_names, rtol=rtol,
                                     atol=atol, dims=_dims(exercise, case.args),
                                     normaliser=exercise.normaliser, text_dims=text_dims))
    for case, got, expected, fit_rtol in usable:
        shaped = [g if g.shape == e.shape else None for g, e in zip(got, expected, strict=True)]
        decomposable.append((case.args, shaped, fit_rtol))
    if exercise.terms and not all(right):
        findings, _verdict = decompose(exercise.terms, decomposable,
                                       normaliser=exercise.normaliser,
                                       output_names=exercise.output_names,
                                       dims_of=exercise.dims, text_dims=text_dims)
        found.add(findings)
    return found, True, all(right)


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------


def _overflow(case, got, expected, output, probes_right):
    """A Finding if the answer overflowed: large inputs, and an overflow warning or inf/NaN.

    With an "overflow encountered" warning from the learner's call, large inputs are
    enough; without one (warnings silenced), the answer must be non-finite where the
    right one is finite and right on the small probes, and no log(0) was warned about
    (an underflow, not an overflow).
    """
    floats = [a for a in case.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    if not floats:
        return None
    dtype = np.dtype(case.dtype)
    limit = float(np.log(np.finfo(dtype).max))
    big = max(float(np.max(np.abs(a), initial=0.0)) for a in floats)
    if big <= limit:
        return None
    warned = "overflow encountered" in (output or "")
    underflow = "divide by zero encountered in log" in (output or "")
    non_finite = any(bool((~np.isfinite(g) & np.isfinite(e)).any()) for g, e in
                     zip(got, expected, strict=True) if g.shape == e.shape)
    if not (warned or (non_finite and probes_right and not underflow)):
        return None
    seen = ("NumPy warned that an exponential overflowed" if warned
            else "it is right on small inputs but not on this one")
    return Finding("overflow", (
        f"Your function overflowed: this case's inputs reach {big:.3g}, and np.exp gives inf "
        f"above about {limit:.0f} in {dtype} (then inf / inf is NaN and log(inf) is inf); "
        f"{seen}. Subtract each row's maximum before exponentiating: the result does not "
        "change, and every exponent is at most 0."))


def diagnose_mismatch(exercise, case, got, expected, rtol, atol, probe_runs, output=""):
    """Name the mistake behind wrong values (or a wrong shape) on `case`.

    Parameters
    ----------
    exercise : NumericExercise
    case : Case
        The failing case.
    got, expected : list of ndarray
        The learner's outputs and the reference's (float arrays).
    rtol, atol : float
        The case's tolerances.
    probe_runs : callable
        ``probe_runs() -> list[ProbeRun]``: runs the exercise's probes through the
        executor (called only if the failing case leaves an output unexplained).
    output : str
        What the learner's call printed or warned (an overflow warning is evidence).

    Returns
    -------
    Diagnosis
    """
    diagnosis = Diagnosis()
    matches = _variant_matches(exercise, case, got, expected, rtol, atol)
    # A variant wrong in more outputs than the answer is named only for outputs that the
    # transforms leave unexplained ("your dA has the opposite sign" beats "your gradients
    # have the opposite sign" when dW and db are right).
    diagnosis.add([f for f, overreach in matches if not overreach])
    diagnosis.add(transform_findings(got, expected, names=exercise.output_names, rtol=rtol,
                                     atol=atol, dims=_dims(exercise, case.args),
                                     normaliser=exercise.normaliser,
                                     more_ratios=_probe_ratios(exercise, probe_runs)))
    uncovered = set(range(len(expected))) - diagnosis.explained_outputs(len(expected))
    diagnosis.add([f for f, overreach in matches if overreach and set(f.outputs) & uncovered])
    wrong = {i for i, (g, e) in enumerate(zip(got, expected, strict=True))
             if not close_enough(g, e, rtol, atol)}
    if wrong and "overflow encountered" in (output or ""):
        diagnosis.add([f for f in [_overflow(case, got, expected, output, False)] if f])
    if not wrong or wrong <= diagnosis.explained_outputs(len(expected)):
        return diagnosis
    if exercise.probes is None:
        _decompose_failing_case(exercise, case, got, expected, diagnosis)
        return diagnosis
    found, ran, all_right = _probe_stage(exercise, probe_runs(), _dims(exercise, case.args))
    overflow = _overflow(case, got, expected, output, ran and all_right)
    if overflow is not None:
        diagnosis.add([overflow])
    elif ran and all_right:
        diagnosis.notes.append(
            "On small ordinary inputs your function gives the right result, so the formula "
            "is probably right: look at what is special about the failing case (its dtype, "
            "its size, extreme values, or a memory layout that is not C-contiguous).")
    diagnosis.add(found.findings)
    diagnosis.notes += found.notes
    if not ran:
        _decompose_failing_case(exercise, case, got, expected, diagnosis)
    return diagnosis


def _decompose_failing_case(exercise, case, got, expected, diagnosis):
    """Stage 4 without probes: decompose the answer on the failing case itself."""
    if not exercise.terms:
        return
    shaped = [g if g.shape == e.shape else None for g, e in zip(got, expected, strict=True)]
    findings, _verdict = decompose(exercise.terms, [(case.args, shaped)],
                                   normaliser=exercise.normaliser,
                                   output_names=exercise.output_names, dims_of=exercise.dims)
    diagnosis.add(findings)


def diagnose_exception(exercise, case, error, probe_runs):
    """Name the mistake behind an exception from the learner's code on `case`.

    Parameters
    ----------
    exercise : NumericExercise
    case : Case
    error : str
        The exception summary.
    probe_runs : callable
        As in :func:`diagnose_mismatch`.

    Returns
    -------
    Diagnosis
    """
    diagnosis = Diagnosis()
    expected = exercise._reference(case)
    finding = explain_shape_error(error, exercise.arg_names, case.args,
                                  [e.shape for e in expected], exercise.output_names)
    if exercise.probes is None:
        diagnosis.add([finding] if finding else [])
        return diagnosis
    runs = probe_runs()
    found, ran, all_right = _probe_stage(exercise, runs, _dims(exercise, case.args))
    # What the answer computes on a probe is firmer evidence than a guess from the error
    # message's sizes: a guess naming another mistake than the probes is left out.
    probe_codes = {f.code for f in found.findings if f.code is not None and not f.weak}
    if finding is not None and (not probe_codes or finding.code in probe_codes):
        diagnosis.add([finding])
    if ran:
        labels = "; ".join(r.case.label for r in runs if r.kind == "ok")
        if all_right:
            diagnosis.notes.append(
                f"On small inputs ({labels}) your function runs and is right, so the error "
                "comes from something special about the failing case (its shapes, dtype or "
                "size).")
        elif found.findings:
            diagnosis.notes.append(
                f"It does run on a small input where the shapes allow it ({labels}), and what "
                "it computes there shows the mistake (below).")
        diagnosis.add(found.findings)
    return diagnosis
