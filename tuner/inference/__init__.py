"""Inference: running stored trials' models again, and their pictures.

Which stored trial (by number, or the winning configuration's best), its model (saved
weights or a retrain with the same config and seed), its scores on a split or another
dataset image by image (``tuner evaluate``), masks for new images (``tuner predict``),
and prediction galleries (drawn while a trial trains, read back for reports). Below both
``tuner.study`` (the objective draws galleries, a campaign scores its final winner) and
``tuner.reports``; modules are imported by name (``tuner.inference.evaluation``).
"""
