"""The engine for numeric exercises: run the learner's function, compare, diagnose.

For every case (public first, then hidden) :meth:`NumericExercise.grade`

1. hands the learner's function and the case's inputs to an *executor*
   (default :func:`~backprop_lib.grading.runner.default_executor`: a forked
   child process on Linux, :func:`~backprop_lib.grading.runner.run_case` in this
   process elsewhere), which calls it on copies under the time limit, with
   prints captured and calls into the reference watched, and returns plain
   arrays (:mod:`~backprop_lib.grading.conversion`);
2. checks the kind of data (``dtype``), then the shape (``shape``), then
   the values against the reference, with tolerances set by the input dtype;
3. on a mismatch or an exception, names the mistake
   (:mod:`~backprop_lib.grading.diagnosis`): the exercise's wrong variants, simple
   transforms of the right answer, the failed product of a shape error, and, on
   small probe inputs run through the same executor, the answer decomposed on
   the terms of the formula;
4. checks that no input changed (``mutates_input``) and, where a case sets a
   memory limit, that the call stayed under it.

An exercise declares what the diagnosis needs next to its cases: ``variants``,
``probes``, ``terms``, ``dims`` and ``normaliser`` (see :class:`NumericExercise`
and CONTRIBUTING.md, "Adding an exercise").

The first failing case decides the result (all or nothing). Each call has the
time limit ``timeout``; the whole check has :data:`BUDGET_FACTOR` times that.
The grader's own work runs under a known floating-point state
(:func:`~backprop_lib.grading.runner.known_float_state`), whatever ``np.seterr``
or warning filters the learner set.
"""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .cases import copy_like
from .conversion import ConversionProblem, describe_type
from .diagnosis import Diagnosis, diagnose_exception, diagnose_mismatch
from .feedback import CheckResult, explanations_for
from .mistakes import WrongVariant
from .probes import DIAGNOSIS_BUDGET, run_probes
from .reference_calls import describe_reference_use
from .registry import Exercise
from .runner import default_executor, how_it_exited, known_float_state, resolve_timeout
from .transforms import close_enough

__all__ = ["NumericExercise", "TOLERANCES"]

#: The whole check may take this many times the per-call timeout.
BUDGET_FACTOR = 4

#: dtype -> (rtol, atol); atol is scaled by max(1, largest |expected| entry).
TOLERANCES = {
    np.dtype(np.float64): (1e-6, 1e-9),
    np.dtype(np.float32): (2e-4, 1e-6),
}


@dataclass
class _Problem:
    """Why one case failed (internal)."""

    reason: str
    codes: list = field(default_factory=list)
    sentences: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    expected_shape: tuple | None = None
    got_shape: tuple | None = None
    mismatch: str = ""
    #: Set when values were compared: the learner's and the reference's outputs.
    got: list | None = None
    expected: list | None = None
    #: True when only the dtype is wrong (nothing else to diagnose).
    values_right: bool = False


@dataclass
class NumericExercise(Exercise):
    """An exercise whose answer is a function, checked on public and hidden cases.

    Attributes
    ----------
    signature : str
        How the learner's function is called, e.g. ``"softmax(z)"``.
    arg_names : tuple of str
        Names of the arguments, for messages.
    reference : callable
        Correct implementation; returns an array, a scalar, or a tuple of arrays.
    public_cases : callable
        ``() -> list[Case]``.
    hidden_cases : callable
        ``(rng) -> list[Case]``, drawn anew for every check.
    variants : tuple of WrongVariant
        Known wrong implementations, compared on a failing case.
    output_names : tuple of str or None
        For functions returning several arrays, their names (e.g. ``("dA", "dW", "db")``).
    tolerance : callable or None
        ``(case) -> (rtol, atol)``; default :data:`TOLERANCES` by dtype.
    restore_tolerance : float
        Relative change of an input still counted as "unchanged" (0: exact).
    memory_message : str
        Shown when a case's ``memory_limit`` is exceeded.
    allowed_reference : tuple of str
        backprop_lib reference functions the learner may call (default: only
        ``one_hot``, a utility rather than a solution).
    wrap_answer : callable or None
        ``wrap_answer(answer) -> function`` turns what the learner hands in (a
        class, an object with ``forward``/``backward``, a function that updates
        arrays in place) into the function called on each case's ``args``, whose
        return value is compared with ``reference(*args)``. It runs where the
        learner's code runs (inside the executor's guarded call), so it must be
        defined in the exercise module, not in a notebook. Default: the answer
        itself is that function.
    probes : callable or None
        ``() -> list[Case]``: small float64 inputs on which the diagnosis runs the
        learner's function after a failure (see :mod:`~backprop_lib.grading.probes`):
        one with every dimension equal, one or two with all dimensions different.
    terms : tuple of Term
        The terms of the correct formula and of likely mistakes, on which a wrong
        answer is decomposed (see :mod:`~backprop_lib.grading.decomposition`).
    dims : callable or None
        ``dims(*args) -> dict`` naming the case's dimensions, e.g.
        ``{"N": 5, "K": 7}``; used to recognise and word a wrong normaliser.
    normaliser : str or callable
        How the correct result scales with the dimensions, a monomial such as
        ``"1/N"`` (a batch mean) or ``"1"`` (default); or ``normaliser(*args) -> str``
        when it depends on an argument of the case (``reduction="mean"`` or ``"sum"``).
        The probes must then share one normaliser: the probes and terms are used only
        on failing cases with that normaliser.
    """

    signature: str = ""
    arg_names: tuple = ()
    reference: Callable = None
    public_cases: Callable = None
    hidden_cases: Callable = None
    variants: tuple = ()
    output_names: tuple | None = None
    tolerance: Callable | None = None
    restore_tolerance: float = 0.0
    memory_message: str = ""
    allowed_reference: tuple = ("one_hot",)
    wrap_answer: Callable | None = None
    probes: Callable | None = None
    terms: tuple = ()
    dims: Callable | None = None
    normaliser: str | Callable = "1"

    kind = "function"

    # -- the public entry point -------------------------------------------

    @known_float_state
    def grade(self, answer, *, timeout=None, seed=None, executor=None):
        """Check the learner's function `answer`; never raises for its behaviour.

        Parameters
        ----------
        answer : callable
            The learner's function (or, with a custom `executor`, whatever that
            executor knows how to call, e.g. a name in a sandboxed process).
        timeout : float, optional
            Seconds per call.
        seed : int, optional
            Seed of the hidden cases (random when None).
        executor : callable, optional
            ``executor(answer, args, *, timeout, output_names, measure_memory)
            -> CallOutcome`` with plain arrays as its value; default
            :func:`~backprop_lib.grading.runner.default_executor` (closed after the
            check). An executor passed in is not closed. Optional hooks: if it has
            ``prepare(function, [(args, measure_memory), ...], output_names=...)``
            it is told the cases first (to queue them); if its
            ``applies_wrap_answer`` is true it receives `answer` itself and applies
            :attr:`wrap_answer` where the answer lives (e.g.
            :class:`~backprop_lib.grading.child_process.SandboxExecutor`).

        Returns
        -------
        CheckResult
        """
        start = time.perf_counter()
        seed = secrets.randbits(32) if seed is None else int(seed)
        base = dict(exercise_id=self.id, points=self.points, title=self.title,
                    hint_call=f'hint("{self.id}")', seed=seed)
        if executor is None and self.wrap_answer is None and not callable(answer):
            return CheckResult(status="error", passed=False, score=0.0, message=(
                f"check({self.id!r}, ...) expects your function itself, for example "
                f"check({self.id!r}, {self.signature.split('(')[0]}) -- without parentheses; "
                f"got {describe_type(answer)}."), **base)
        public = list(self.public_cases())
        hidden = list(self.hidden_cases(np.random.default_rng(seed)))
        per_call = resolve_timeout(timeout)
        deadline = start + BUDGET_FACTOR * per_call
        run = executor or default_executor()
        # An executor whose answers live elsewhere (a name in the autograder's child) applies
        # wrap_answer there; every other executor gets the function to call on the args.
        function = answer if getattr(run, "applies_wrap_answer", False) else self._callable(answer)
        if hasattr(run, "prepare"):  # an executor that can queue the cases ahead
            run.prepare(function, [(c.args, c.memory_limit is not None) for c in public + hidden],
                        output_names=self.output_names)
        try:
            for index, case in enumerate(public + hidden):
                left = deadline - time.perf_counter()
                if left <= 0:
                    return _over_budget(index, len(public), len(hidden), per_call, base)
                result = self._grade_case(function, case, index, len(public), len(hidden),
                                          min(per_call, left), base, run)
                if result is not None and result.status == "timeout" and left < per_call:
                    return _over_budget(index, len(public), len(hidden), per_call, base)
                if result is not None:
                    result.seconds = time.perf_counter() - start
                    return result
        finally:
            if executor is None and hasattr(run, "close"):
                run.close()
        tested = self._tested(public, hidden)
        return CheckResult(
            status="passed", passed=True, score=self.points, tested=tested,
            message=(f"Passed all {len(public)} public and {len(hidden)} hidden cases "
                     "(the hidden cases are new random inputs on every run)."),
            seconds=time.perf_counter() - start, **base)

    def _callable(self, answer):
        """The function the executor calls on a case's args (see `wrap_answer`)."""
        if self.wrap_answer is None:
            return answer
        wrap = self.wrap_answer

        def wrapped(*args):
            return wrap(answer)(*args)

        wrapped.__name__ = getattr(answer, "__name__", "answer")
        return wrapped

    # -- one case -----------------------------------------------------------

    def _grade_case(self, answer, case, index, n_public, n_hidden, timeout, base, executor):
        """Return a CheckResult if `case` ends the check, else None."""
        where = _where(case, index, n_public, n_hidden)
        probe_runs = self._probe_runner(answer, executor, timeout)
        outcome = executor(answer, case.args, timeout=timeout, output_names=self.output_names,
                           measure_memory=case.memory_limit is not None)
        if outcome.kind == "not_implemented":
            return CheckResult(status="not attempted", passed=False, score=0.0, message=(
                f"Not attempted yet: replace `raise NotImplementedError()` in "
                f"{self.signature} with your code, then run this cell again."), **base)
        common = dict(case=f"{where}: {case.label}", output=outcome.output,
                      tested=_passed_so_far(index, n_public, n_hidden), **base)
        if outcome.kind != "ok":
            result = _unfinished(outcome, where, common)
            if outcome.kind == "exception":
                found = _safely(diagnose_exception, self, case, outcome.error, probe_runs)
                if found is not None:
                    _add_diagnosis(result, found)
            return result
        # "<module>" is a reference module's own top level, run when the learner imports it.
        used = [name for name in outcome.reference_calls
                if name not in self.allowed_reference and not name.startswith("<")]
        if used:
            return self._failed(common, _Problem(
                reason=f"{describe_reference_use(used)}. Write this exercise with NumPy only.",
                codes=["uses_reference"]), where)
        problem = self._compare(case, outcome.value)
        if problem is not None and problem.got is not None and not problem.values_right:
            self._diagnose(problem, case, probe_runs, outcome.output)
        changed = self._mutated(case.args, outcome.args_after)
        if changed:
            problem = _add_mutation(problem, changed)
        if problem is None:
            problem = self._memory_problem(case, outcome)
        return None if problem is None else self._failed(common, problem, where)

    def _probe_runner(self, answer, executor, timeout):
        """``() -> list[ProbeRun]``: the probes, run once and lazily, within the budget.

        Created just before the case's own call: the probes never run past the time
        that call was allowed (``timeout`` from now, within the check's budget), nor
        longer than :data:`~backprop_lib.grading.probes.DIAGNOSIS_BUDGET`.
        """
        memo = []
        latest = time.perf_counter() + timeout

        def runs():
            if not memo:
                cases = list(self.probes()) if self.probes is not None else []
                memo.append(run_probes(cases, answer, executor,
                                       output_names=self.output_names,
                                       budget=DIAGNOSIS_BUDGET, deadline=latest))
            return memo[0]

        return runs

    def _memory_problem(self, case, outcome):
        """A _Problem if the call allocated more than the case allows, else None."""
        if case.memory_limit is None or outcome.peak_bytes is None:
            return None
        if outcome.peak_bytes <= case.memory_limit:
            return None
        return _Problem(reason=self.memory_message.format(
            mib=outcome.peak_bytes / 2**20, limit=case.memory_limit / 2**20))

    def _failed(self, common, problem, where):
        """The CheckResult for a failed case."""
        codes = _unique(problem.codes)
        # "overflow" already explains where the NaN came from; skip the generic NaN text.
        explained = [c for c in codes if not (c == "not_finite" and "overflow" in codes
                                              and c not in problem.sentences)]
        explanations = explanations_for(explained, problem.sentences)
        explanations += [("What probably happened", note) for note in problem.notes]
        return CheckResult(status="failed", passed=False, score=0.0,
                           message=f"Failed {where}: {problem.reason}", diagnosis=codes,
                           explanations=explanations, expected_shape=problem.expected_shape,
                           got_shape=problem.got_shape, mismatch=problem.mismatch, **common)

    # -- comparison ---------------------------------------------------------

    def _tolerance(self, case):
        """(rtol, atol) for `case`: by dtype, widened for inputs of large magnitude.

        Rounding an input of size |x| already moves it by about eps * |x|, and a
        valid formula may amplify that (e.g. ``exp(z - logsumexp(z))`` in float32 at
        z ~ 1e4), so rtol is at least ``2 * eps * max|input|``.
        """
        if self.tolerance is not None:
            return self.tolerance(case)
        rtol, atol = TOLERANCES.get(np.dtype(case.dtype), TOLERANCES[np.dtype(np.float64)])
        magnitude = max((float(np.max(np.abs(a), initial=0.0)) for a in case.args
                         if isinstance(a, np.ndarray) and a.dtype.kind == "f"), default=0.0)
        return max(rtol, 2 * np.finfo(case.dtype).eps * magnitude), atol

    def _reference(self, case):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._components(self.reference(*(copy_like(a) for a in case.args)))

    def _components(self, value):
        """Reference-style output -> list of float arrays."""
        if self.output_names:
            return [np.asarray(v, dtype=float) for v in value]
        return [np.asarray(value, dtype=float)]

    def _compare(self, case, value):
        """None if the plain `value` (from the executor) is right for `case`, else a _Problem."""
        expected = self._reference(case)
        got, problem = self._as_float_arrays(value, expected)
        if problem is not None:
            return problem
        got, dtype_problem = self._precision(value, got, expected, case)
        if dtype_problem is not None and dtype_problem.got is not None:
            return dtype_problem  # the values are right; only the dtype is not
        rtol, atol = self._tolerance(case)
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            name = self._component_name(i)
            problem = _compare_arrays(g, e, rtol, atol, name)
            if problem is not None:
                problem.got, problem.expected = got, expected
                problem.codes = _unique(dtype_problem.codes + problem.codes) \
                    if dtype_problem else problem.codes
                if dtype_problem:
                    problem.sentences.update(dtype_problem.sentences)
                return problem
        return dtype_problem

    def _component_name(self, i):
        return self.output_names[i] if self.output_names else "your result"

    def _as_float_arrays(self, value, expected):
        """Plain executor output -> (list of float arrays, None) or (None, _Problem)."""
        if isinstance(value, ConversionProblem):
            shape = expected[value.component or 0].shape
            return None, _Problem(reason=value.reason, codes=list(value.codes),
                                  expected_shape=shape)
        if not isinstance(value, list) or len(value) != len(expected):
            return None, _Problem(reason="the grader could not read your result "
                                         f"({describe_type(value)}).", codes=["dtype"])
        arrays = []
        for i, arr in enumerate(value):
            arr = np.asarray(arr)
            if arr.dtype.kind in "iub":
                kind = {"i": "integers", "u": "integers", "b": "booleans"}[arr.dtype.kind]
                return None, _Problem(
                    reason=f"{self._component_name(i)} holds {kind}, not floating-point "
                           "numbers.", codes=["dtype"], got_shape=arr.shape,
                    expected_shape=expected[i].shape)
            if arr.dtype.kind == "c":
                if not np.allclose(arr.imag, 0.0, rtol=0.0, atol=1e-12 * max(
                        1.0, float(np.max(np.abs(arr.real), initial=0.0)))):
                    return None, _Problem(
                        reason=f"{self._component_name(i)} holds complex numbers with non-zero "
                               "imaginary parts, not real numbers.", codes=["dtype"],
                        got_shape=arr.shape, expected_shape=expected[i].shape,
                        sentences={"dtype": _COMPLEX_SENTENCE})
                arrays.append(np.asarray(arr.real, dtype=float))
                continue
            arrays.append(np.asarray(arr, dtype=float))
        return arrays, None

    def _precision(self, value, got, expected, case):
        """(got, _Problem or None) for results of the wrong floating dtype.

        float16 and complex results fail with ``dtype``: right values get a
        _Problem with ``got`` set (nothing else to report); wrong values get one
        without, whose code is added to the value mismatch. A float32 result on a
        float64 case passes if it is accurate enough; if it is accurate only to
        float32 precision, the dtype is named.
        """
        rtol, atol = self._tolerance(case)
        for i, (raw, g, e) in enumerate(zip(value, got, expected, strict=True)):
            kind = np.asarray(raw).dtype
            name = self._component_name(i)
            if kind.kind == "c":
                sentence = _COMPLEX_SENTENCE
                what = f"{name} is complex ({kind}) with zero imaginary parts"
                verdict = ("its real parts are right, but the result must be real numbers "
                           "(float32 or float64).")
            elif kind.kind == "f" and kind.itemsize < 4:
                sentence = _FLOAT16_SENTENCE
                what = f"{name} is {kind} (half precision, about 3 significant digits)"
                verdict = ("the values are right to that precision, but the result must be "
                           "float32 or float64.")
            elif (kind == np.float32 and np.dtype(case.dtype) == np.float64
                  and not close_enough(g, e, rtol, atol) and close_enough(g, e, 2e-4, 1e-6)):
                return got, _Problem(
                    reason=f"{name} is float32, accurate only to about 7 digits; the inputs "
                           "are float64.", codes=["dtype"], got=got, expected=expected,
                    values_right=True,
                    sentences={"dtype": _FLOAT32_SENTENCE}, got_shape=g.shape,
                    expected_shape=e.shape)
            else:
                continue
            right = close_enough(g, e, max(rtol, 2e-3), max(atol, 1e-3), equal_nan=False)
            problem = _Problem(
                reason=f"{what}" + (f": {verdict}" if right else "."),
                codes=["dtype"], sentences={"dtype": sentence}, got_shape=g.shape,
                expected_shape=e.shape)
            if right:
                problem.got, problem.expected = got, expected
                problem.values_right = True
            return got, problem
        return got, None

    def _diagnose(self, problem, case, probe_runs, output=""):
        """Add the codes and sentences the diagnosis finds for a value mismatch."""
        rtol, atol = self._tolerance(case)
        found = _safely(diagnose_mismatch, self, case, problem.got, problem.expected, rtol,
                        atol, probe_runs, output)
        if found is not None:
            _merge(problem, found)

    def _run_variant(self, variant: WrongVariant, case):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._components(variant.compute(*(copy_like(a) for a in case.args)))
        except Exception:  # noqa: BLE001 - a variant may not apply to these shapes
            return None

    def _mutated(self, originals, copies):
        """Names of the array arguments whose copy changed during the call."""
        changed = []
        for name, before, after in zip(self.arg_names, originals, copies, strict=False):
            if isinstance(before, np.ndarray) and not _same(before, after,
                                                            self.restore_tolerance):
                changed.append(name)
        return changed

    def _tested(self, public, hidden):
        lines = [f"public case {i + 1}: {c.label}" for i, c in enumerate(public)]
        lines.append(f"{len(hidden)} hidden random cases, for example: "
                     + "; ".join(c.label for c in hidden[:3]))
        return lines


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _where(case, index, n_public, n_hidden):
    if not case.hidden:
        return f"public case {index + 1} of {n_public}"
    return f"hidden case {index - n_public + 1} of {n_hidden}"


_ERROR_TIPS = (
    ("could not be broadcast", " Tip: print the shapes of both operands. A reduction such as "
     "e.sum(axis=-1) drops the axis; keepdims=True keeps it so the result lines up with each "
     "row."),
    ("mismatch in its core dimension", " Tip: in A @ B the last axis of A must equal the "
     "first axis of B; print both shapes and check whether one should be transposed."),
    ("out of bounds for array of dimension", " Tip: axis=-1 always means the last axis, "
     "whatever the number of dimensions."),
)


def _error_tip(error):
    """A short hint for common NumPy errors, or an empty string."""
    for fragment, tip in _ERROR_TIPS:
        if fragment in error:
            return tip
    return ""


def _unfinished(outcome, where, common):
    """The CheckResult when the learner's call timed out, exited or raised."""
    if outcome.kind == "timeout":
        return CheckResult(status="timeout", passed=False, score=0.0, message=(
            f"Your function did not finish within the time limit ({outcome.error}) on "
            f"{where}. Look for a loop that never ends, or pass a larger timeout=... to "
            "check()."), **common)
    if outcome.kind == "exit":
        return CheckResult(status="error", passed=False, score=0.0, error=outcome.error,
                           message=f"Your function {how_it_exited(outcome)} on {where}; "
                                   "return the result instead.", **common)
    if outcome.kind == "crashed":
        return CheckResult(status="error", passed=False, score=0.0, error=outcome.error,
                           message=f"Your function crashed on {where}: {outcome.error}. The "
                                   "kernel is fine; look for code that ends the process.",
                           **common)
    first_line = outcome.error.splitlines()[0]
    return CheckResult(status="error", passed=False, score=0.0, error=outcome.error,
                       message=f"Your function raised {first_line} on {where}."
                               + _error_tip(outcome.error), **common)


def _over_budget(index, n_public, n_hidden, per_call, base):
    """The CheckResult when the cases so far passed but used up the time budget."""
    return CheckResult(
        status="timeout", passed=False, score=0.0, tested=_passed_so_far(index, n_public,
                                                                          n_hidden),
        message=(f"Your function passed the cases it finished, but it is too slow: the whole "
                 f"check may take {BUDGET_FACTOR * per_call:g} s. Replace Python loops over "
                 "array entries with NumPy operations, or pass a larger timeout=... to "
                 "check()."), **base)


def _add_mutation(problem, changed):
    """Add the ``mutates_input`` finding to `problem` (None if the values were right)."""
    names = ", ".join(changed)
    problem = problem or _Problem(reason="")
    problem.codes.append("mutates_input")
    problem.sentences["mutates_input"] = (
        f"Your function changed its input {names} in place (with -=, /=, out=, or an "
        "assignment into it). The caller still needs its inputs: work on new arrays, or "
        "copy first.")
    if problem.reason:
        problem.reason += f" It also changed its input {names}."
    else:
        problem.reason = f"your function changed its input {names}."
    return problem


_FLOAT16_SENTENCE = (
    "Your result is float16 (half precision): it keeps only about 3 significant digits, "
    "far too few for gradients. Compute and return float32 or float64 (the input's dtype); "
    "look for .astype(np.float16) or an array created with dtype=np.float16.")
_COMPLEX_SENTENCE = (
    "Your result has a complex dtype. Probabilities and gradients are real numbers: a "
    "complex value usually comes from np.sqrt or np.log of a negative number through "
    "np.emath or np.lib.scimath, from 1j, or from np.fft. Find where it appears; do not "
    "just drop the imaginary part.")
_FLOAT32_SENTENCE = (
    "Your result is float32 for float64 inputs and is accurate only to float32 precision. "
    "Keep the input's dtype: avoid .astype(np.float32) and arrays created with "
    "dtype=np.float32.")


def _safely(stage, *args):
    """Run a diagnosis stage; None if it fails (the check's verdict never depends on it)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return stage(*args)
    except Exception:  # noqa: BLE001 - feedback is best effort; the status is already known
        return None


def _merge(problem, found):
    """Put a Diagnosis' findings into `problem` (codes first, then the comparison's)."""
    named = []
    for finding in found.findings:
        if finding.code is None:
            if finding.sentence not in problem.notes:
                problem.notes.append(finding.sentence)
            continue
        named.append(finding.code)
        if finding.code in problem.sentences:
            problem.sentences[finding.code] += " " + finding.sentence
        else:
            problem.sentences[finding.code] = finding.sentence
    problem.codes = _unique(named + problem.codes)
    problem.notes += [note for note in found.notes if note not in problem.notes]


def _add_diagnosis(result, found):
    """Add a Diagnosis to an error CheckResult (its status stays "error").

    The diagnosis' notes (what the probes showed) join the message.
    """
    if not found.findings and not found.notes:
        return
    problem = _Problem(reason="")
    _merge(problem, Diagnosis(found.findings))
    for note in found.notes:
        result.message += " " + note
    result.diagnosis = _unique(result.diagnosis + problem.codes)
    result.explanations = (list(result.explanations)
                           + explanations_for(problem.codes, problem.sentences)
                           + [("What probably happened", n) for n in problem.notes])


def _passed_so_far(index, n_public, n_hidden):
    """Lines saying which cases passed before case number `index` (0-based)."""
    public_done = min(index, n_public)
    hidden_done = max(0, index - n_public)
    lines = [f"public cases passed: {public_done} of {n_public}"]
    if index >= n_public:
        lines.append(f"hidden cases passed: {hidden_done} of {n_hidden} "
                     "(new random inputs on every run)")
    return lines


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _same(before, after, rtol):
    if not isinstance(after, np.ndarray) or before.shape != after.shape:
        return False
    if rtol == 0:
        return bool(np.array_equal(before, after, equal_nan=True))
    return bool(np.allclose(after, before, rtol=rtol, atol=rtol, equal_nan=True))


def _compare_arrays(got, expected, rtol, atol, name):
    """None if close; else a _Problem with shape or first-mismatch details."""
    if got.shape != expected.shape:
        return _Problem(reason=f"{name} has shape {got.shape}, expected {expected.shape}.",
                        codes=["shape"], expected_shape=expected.shape, got_shape=got.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    close = np.isclose(got, expected, rtol=rtol, atol=atol * scale)
    if close.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~close)[0])
    where = "[" + ", ".join(map(str, index)) + "]" if index else "(the scalar)"
    mismatch = f"{where}: expected {_num(expected[index])}, got {_num(got[index])}"
    prefix = f"{name} " if name != "your result" else ""
    problem = _Problem(reason=f"{prefix}entry {mismatch}.", expected_shape=expected.shape,
                       got_shape=got.shape, mismatch=f"{prefix}{mismatch}")
    if not np.isfinite(got).all() and np.isfinite(expected).all():
        problem.codes.append("not_finite")
    return problem


def _num(x):
    return f"{float(x):.6g}"
