"""backprop_lib: the library behind the course *Backprop through Softmax + Cross-Entropy*.

Modules (one concept each):

- :mod:`backprop_lib.functional` -- softmax, log_softmax, Jacobians, VJPs, losses
- :mod:`backprop_lib.layers` -- Dense, activations and the fused SoftmaxCrossEntropy
- :mod:`backprop_lib.model` -- Sequential / MLP and the training loop
- :mod:`backprop_lib.optim` -- SGD (momentum) and Adam
- :mod:`backprop_lib.gradcheck` -- numerical gradients and gradient checks
- :mod:`backprop_lib.symbolic` -- SymPy derivations used in the notebooks
- :mod:`backprop_lib.shapes` -- shape traces of forward/backward passes
- :mod:`backprop_lib.data` -- spirals and the UCI digits
- :mod:`backprop_lib.grading` -- graded exercises, feedback and progress
"""

__version__ = "0.1.0"
