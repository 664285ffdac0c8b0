"""Stage functions: the work of each rule of the workflow, one function a rule.

A rule script (``scripts/<rule>.py``) is an adapter: it reads ``snakemake.input`` and
``snakemake.params``, calls one stage function, and writes what it returns through
:mod:`conceptlens.io`.  ``conceptlens describe`` (:mod:`conceptlens.quick`) composes the
same functions in memory.  Stage functions log through the ``log`` they are given (a
``logging.Logger``; the rule's log file) and never write result files themselves, except
where a stage streams more data than memory holds (the target pass' scratch matrices).
"""
