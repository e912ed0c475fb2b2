"""The architectures of the original service, by config id."""

from credit_risk.network import ModelConfig

CONFIGS: dict[str, ModelConfig] = {
    "000": ModelConfig(
        hidden_layers=[64, 32],
        activation_functions=["relu", "relu"],
        dropout_rate=0.2,
        learning_rate=1e-3,
        epochs=100,
        batch_size=32,
    ),
    "001": ModelConfig(
        hidden_layers=[128, 64, 32],
        activation_functions=["relu", "relu", "relu"],
        dropout_rate=0.3,
        learning_rate=5e-4,
        epochs=150,
        batch_size=64,
    ),
    "002": ModelConfig(
        hidden_layers=[256, 128, 64, 32],
        activation_functions=["leaky_relu"] * 4,
        dropout_rate=0.4,
        learning_rate=1e-4,
        epochs=200,
        batch_size=128,
    ),
}
# The training of the original service: all epochs, the last weights (see evaluate's ablation).
ORIGINAL_TRAINING: dict[str, bool] = {"early_stopping": False}
