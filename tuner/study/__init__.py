"""Studies: study files, samplers and pruners, the objective, the trial queue, workers,
the runner and campaigns. The only part of tuner that talks to Optuna's trial API.

Modules are imported by name (``tuner.study.runner``...); this package's import is free.
"""
