"""Studies: study files and their checks, the objective, checkpoints, setups and
campaigns. With :mod:`tuner.search` and :mod:`tuner.workers`, the only part of tuner that
talks to Optuna's trial API.

Modules are imported by name (``tuner.study.spec``...); this package's import is free.
"""
