"""Repeated stratified cross-validation of configs 000-002 and the logistic baseline.

`python -m training_export.evaluation` runs it (see `__main__`). The modules:
`cv` (the protocol, the folds, one fold's training and scoring), `metrics` (calibration
error, AUC, bootstrap intervals), `slices` (metrics by Sex and age band), `ablation` (the
training changes), `run` (one whole evaluation and its files), `report` (the Markdown
report) and `plot` (the reliability diagram).
"""
