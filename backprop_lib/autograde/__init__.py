"""The instructor's batch autograder: ``python -m backprop_lib.autograde``.

Trusted grading of a whole class, out of process. Nothing a submission does can change
its score: its code runs in a sandboxed child process that only ever sends back plain
data, and the cases, references, tolerances, points and answer keys come from this
installed package and the instructor's key file. One bad notebook never stops the batch.

One module per stage, in the order a submission goes through them:

==========================  ================================================================
``discovery``               find the ``.ipynb`` files, the learner (folder name, nbgrader's
                            ``submitted/<learner>/<assignment>/``) and the course notebook
``notebook_reading``        read a notebook leniently, repairing what can be repaired
``code_extraction``         each cell's code (IPython syntax made Python) and the names of
                            the learner's answers (from the release notebooks)
``sandbox``                 the child process with limits (CPU, memory, environment,
                            throwaway folder, one BLAS thread, capped output, no network,
                            Landlock); ``child_side`` is what runs in it before the cells,
                            ``filesystem_lockdown`` the Landlock rules
``execution``               run the cells in order; after a fatal cell, a new child and a
                            replay, so unaffected exercises are still graded
``exercise_grading``        grade each exercise with the package's own ``grade`` and an
                            executor calling into the sandbox; questions are collected
``answer_key``              the instructor's key for questions, and scoring against it
``submission_grading``      one submission end to end, as a JSON record
``batch``                   worker processes, ``--jobs`` at a time
``results_store``           the stored records, re-runs and merges
``reports``                 grades.csv, totals.csv, feedback pages, summary.html
``cli``                     the command line and its progress bar
==========================  ================================================================

The README's "For instructors" section describes the whole workflow.
"""
