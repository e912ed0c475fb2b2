"""Reproducible training of the MLP and a logistic-regression baseline on one split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from credit_risk.contract import FIELDS, GOOD, TARGET
from credit_risk.decision import BAYES_THRESHOLD, Decision, expected_cost
from credit_risk.features import build_preprocessor
from credit_risk.network import ModelConfig, build_network, stack_members
from training_export.teacher import teacher_proba

SEED = 20261123
VALIDATION_SHARE = 0.15
TEST_SHARE = 0.15


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split(frame: pd.DataFrame, seed: int = SEED) -> Split:
    """Stratified train / validation / test parts."""
    rest, test = train_test_split(
        frame, test_size=TEST_SHARE, stratify=frame[TARGET], random_state=seed
    )
    train, validation = train_test_split(
        rest,
        test_size=VALIDATION_SHARE / (1 - TEST_SHARE),
        stratify=rest[TARGET],
        random_state=seed,
    )
    return Split(train, validation, test)


def target(frame: pd.DataFrame) -> np.ndarray:
    """1.0 for a good applicant, 0.0 for a bad one."""
    return (frame[TARGET] == GOOD).to_numpy(dtype=np.float32)


@dataclass(frozen=True)
class TrainedModel:
    preprocessor: ColumnTransformer
    network: nn.Sequential
    # Per member (one for a single network): epochs run and the best validation epoch.
    epochs: list[dict[str, int]]
    # Logits of the validation rows by a network that did not train on them: fit the
    # calibration and the threshold on these (with `refit`, `network` has seen those rows).
    validation_logits: np.ndarray

    def logits(self, frame: pd.DataFrame) -> np.ndarray:
        return reference_logits(self.preprocessor, self.network, frame)

    def training_record(self) -> dict[str, object]:
        """The manifest's record of the training: epochs run and best epoch (per member)."""
        return self.epochs[0] if len(self.epochs) == 1 else {"members": self.epochs}


@dataclass(frozen=True)
class Baseline:
    """Logistic regression on the same features."""

    preprocessor: ColumnTransformer
    model: LogisticRegression

    def logits(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.decision_function(self.preprocessor.transform(frame[list(FIELDS)]))


def reference_logits(
    preprocessor: ColumnTransformer, network: nn.Module, frame: pd.DataFrame
) -> np.ndarray:
    """The network's logit for "good" through the scikit-learn preprocessor."""
    features = preprocessor.transform(frame[list(FIELDS)]).astype(np.float32)
    with torch.inference_mode():
        return network(torch.from_numpy(features)).numpy()[:, 0]


def reference_proba(
    preprocessor: ColumnTransformer, network: nn.Module, decision: Decision, frame: pd.DataFrame
) -> np.ndarray:
    """Calibrated P(good) through the scikit-learn preprocessor: the offline reference."""
    return decision.calibrate(reference_logits(preprocessor, network, frame))


def _loss(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    network.eval()
    with torch.inference_mode():
        return float(nn.functional.binary_cross_entropy_with_logits(network(x)[:, 0], y))


def train_network(
    config: ModelConfig, train: pd.DataFrame, validation: pd.DataFrame, seed: int = SEED
) -> TrainedModel:
    """Fit the preprocessor on `train`, then the network with early stopping on validation loss.

    With `config.refit` (and early stopping), a second network is then trained from the same
    seed on the training and validation rows together for the early-stopped number of epochs,
    and returned. `validation_logits` always come from the early-stopped network.

    An ensemble (`config.members` k > 1) is k such networks trained independently from the
    seeds seed, seed + 1, ..., each with its own early stopping and refit (member 0 is the
    single network of the same shape and seed), stacked into one network averaging their
    logits; its validation logits are the mean of the members'.
    """
    preprocessor = build_preprocessor().fit(train[list(FIELDS)])
    x_train = torch.from_numpy(preprocessor.transform(train[list(FIELDS)]).astype(np.float32))
    x_val = torch.from_numpy(preprocessor.transform(validation[list(FIELDS)]).astype(np.float32))
    y_train, y_val = (
        torch.from_numpy(target(train)),
        torch.from_numpy(target(validation)),
    )
    x_all, y_all = torch.cat([x_train, x_val]), torch.cat([y_train, y_val])
    refit = config.refit and config.early_stopping
    targets_train = _targets(config, x_train, y_train, seed)
    targets_all = _targets(config, x_all, y_all, seed) if refit else None
    single = config.model_copy(update={"members": 1})
    networks, epochs, validation_logits = [], [], []
    for member in range(config.members):
        network, epochs_run, best_epoch = _fit(
            single, x_train, targets_train, (x_val, y_val), seed + member
        )
        with torch.inference_mode():
            validation_logits.append(network(x_val).numpy()[:, 0])
        if targets_all is not None:
            network, _, _ = _fit(
                single.model_copy(update={"epochs": best_epoch, "early_stopping": False}),
                x_all,
                targets_all,
                None,
                seed + member,
            )
        networks.append(network.eval())
        epochs.append({"epochs_run": epochs_run, "best_epoch": best_epoch})
    if config.members == 1:
        return TrainedModel(preprocessor, networks[0], epochs, validation_logits[0])
    return TrainedModel(
        preprocessor,
        stack_members(config, networks),
        epochs,
        np.mean(validation_logits, axis=0, dtype=np.float32),
    )


def _targets(config: ModelConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """The training targets of these rows: the labels, or with `distillation` d the mix
    (1 - d) y + d t with the teacher's out-of-fold P(good) t."""
    if not config.distillation:
        return y
    teacher = teacher_proba(x.numpy().astype(np.float64), y.numpy(), seed)
    mixed = (1 - config.distillation) * y.numpy() + config.distillation * teacher
    return torch.from_numpy(mixed.astype(np.float32))


def _fit(
    config: ModelConfig,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    validation: tuple[torch.Tensor, torch.Tensor] | None,
    seed: int,
) -> tuple[nn.Sequential, int, int]:
    """The trained network (in eval mode), the epochs run and the best validation epoch."""
    torch.manual_seed(seed)
    network = build_network(config, x_train.shape[1])
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    # fused: one kernel per step for all parameters (foreach is several); faster on CPU.
    optimizer = optimizer_class(
        network.parameters(),
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        fused=True,
    )
    # The network that is validated and kept: the trained one or its moving average.
    averaged = (
        AveragedModel(
            network,
            multi_avg_fn=get_ema_multi_avg_fn(config.weight_averaging),
            use_buffers=True,
        )
        if config.weight_averaging
        else None
    )
    kept = network if averaged is None else averaged.module
    # pos_weight scales the loss of the positive class (good) to the bad class's weight.
    balance = (len(y_train) - y_train.sum()) / y_train.sum() if config.balance_classes else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=balance)
    y_fit = y_train * (1 - config.label_smoothing) + config.label_smoothing / 2
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_epoch, best_state = float("inf"), 0, kept.state_dict()
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:  # BatchNorm needs two rows
                continue
            optimizer.zero_grad()
            loss_fn(network(x_train[batch])[:, 0], y_fit[batch]).backward()
            optimizer.step()
            if averaged is not None:
                averaged.update_parameters(network)
        if validation is None:
            continue
        val_loss = _loss(kept, *validation)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
        elif config.early_stopping and epoch - best_epoch >= config.early_stopping_patience:
            break
    network.load_state_dict(best_state if config.early_stopping else kept.state_dict())
    return network.eval(), epoch, best_epoch


def train_baseline(train: pd.DataFrame) -> Baseline:
    """Logistic regression on the same features."""
    preprocessor = build_preprocessor().fit(train[list(FIELDS)])
    model = LogisticRegression(max_iter=1000).fit(
        preprocessor.transform(train[list(FIELDS)]), target(train)
    )
    return Baseline(preprocessor, model)


def scores(y_true: np.ndarray, p_good: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC, accuracy (P(good) > 0.5), Brier score, log loss and expected cost per applicant.

    `cost` uses the model's threshold, `cost_at_0.5` the threshold 0.5 and `cost_bayes`
    the Bayes threshold 5/6 (optimal if the probabilities are calibrated).
    """
    return {
        "auc": float(roc_auc_score(y_true, p_good)),
        "accuracy": float(accuracy_score(y_true, p_good > 0.5)),
        "brier": float(brier_score_loss(y_true, p_good)),
        "log_loss": float(log_loss(y_true, p_good, labels=[0, 1])),
        "cost": expected_cost(y_true, p_good > threshold),
        "cost_at_0.5": expected_cost(y_true, p_good > 0.5),
        "cost_bayes": expected_cost(y_true, p_good > BAYES_THRESHOLD),
    }
