"""Training and export of the credit-risk model (run `python -m training_export`)."""
