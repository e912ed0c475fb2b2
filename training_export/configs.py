"""The architectures of the original service, by config id."""

from credit_risk.network import ModelConfig

# Training of all three (chosen on inner-validation loss, see evaluation/ablation.py): Adam with
# weight_decay as a coupled L2 penalty, early stopping, then a refit on training + validation.
TRAINING = {"optimizer": "adam", "weight_decay": 0.03, "refit": True}

CONFIGS: dict[str, ModelConfig] = {
    "000": ModelConfig(
        hidden_layers=[64, 32],
        activation_functions=["relu", "relu"],
        dropout_rate=0.2,
        learning_rate=1e-3,
        epochs=100,
        batch_size=32,
        **TRAINING,
    ),
    "001": ModelConfig(
        hidden_layers=[128, 64, 32],
        activation_functions=["relu", "relu", "relu"],
        dropout_rate=0.3,
        learning_rate=5e-4,
        epochs=150,
        batch_size=64,
        **TRAINING,
    ),
    "002": ModelConfig(
        hidden_layers=[256, 128, 64, 32],
        activation_functions=["leaky_relu"] * 4,
        dropout_rate=0.4,
        learning_rate=1e-4,
        epochs=200,
        batch_size=128,
        **TRAINING,
    ),
}
# A deep ensemble of five networks of config 002's shape (seeds SEED..SEED + 4), each trained
# on the out-of-fold belief of a spline logistic regression and gradient boosting
# (training_export.teacher; the labels serve early stopping, calibration and the threshold);
# served as one network, logits averaged; its own sigmoid is the probability (Platt on the
# 150 validation rows made the CV Brier worse). Distillation 1.0 rather than 0.5 since the
# monthly amount joined the features; dropout 0.2 and L2 0.01 (002 has 0.4 and 0.03) since
# the targets became the teacher's smooth beliefs: see ENSEMBLE_CHOICE in evaluation/ablation.py.
CONFIGS["003"] = CONFIGS["002"].model_copy(
    update={
        "members": 5,
        "distillation": 1.0,
        "calibration": "none",
        "dropout_rate": 0.2,
        "weight_decay": 0.01,
    }
)
# The training of the original service: all epochs, the last weights (see evaluation/ablation.py).
ORIGINAL_TRAINING: dict[str, object] = {
    "early_stopping": False,
    "optimizer": "adamw",
    "weight_decay": 0.01,
}
# Early stopping with the AdamW defaults, before the changes of TRAINING.
EARLY_STOPPING_ONLY: dict[str, object] = {
    "optimizer": "adamw",
    "weight_decay": 0.01,
    "refit": False,
}
