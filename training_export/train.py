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

from credit_risk.contract import FIELDS, GOOD, TARGET
from credit_risk.decision import BAYES_THRESHOLD, Decision, expected_cost
from credit_risk.features import build_preprocessor
from credit_risk.network import ModelConfig, build_network

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
    epochs_run: int
    best_epoch: int

    def logits(self, frame: pd.DataFrame) -> np.ndarray:
        return reference_logits(self.preprocessor, self.network, frame)


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
    """Fit the preprocessor on `train`, then the network with early stopping on validation loss."""
    torch.manual_seed(seed)
    preprocessor = build_preprocessor().fit(train[list(FIELDS)])
    x_train = torch.from_numpy(preprocessor.transform(train[list(FIELDS)]).astype(np.float32))
    x_val = torch.from_numpy(preprocessor.transform(validation[list(FIELDS)]).astype(np.float32))
    y_train, y_val = (
        torch.from_numpy(target(train)),
        torch.from_numpy(target(validation)),
    )

    network = build_network(config, x_train.shape[1])
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    # pos_weight scales the loss of the positive class (good) to the bad class's weight.
    balance = (len(y_train) - y_train.sum()) / y_train.sum() if config.balance_classes else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=balance)
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_epoch, best_state = float("inf"), 0, network.state_dict()
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:  # BatchNorm needs two rows
                continue
            optimizer.zero_grad()
            loss_fn(network(x_train[batch])[:, 0], y_train[batch]).backward()
            optimizer.step()
        val_loss = _loss(network, x_val, y_val)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        elif config.early_stopping and epoch - best_epoch >= config.early_stopping_patience:
            break
    if config.early_stopping:
        network.load_state_dict(best_state)
    return TrainedModel(preprocessor, network.eval(), epochs_run=epoch, best_epoch=best_epoch)


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
