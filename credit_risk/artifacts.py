"""The exported model artifacts: their names, and loading them with every check.

A model version is five files (weights, architecture config, decision file with
calibration and threshold, and the fitted preprocessor and training profile that the
versions share); the manifest holds their
sha256 and the metrics of every version. Loading refuses any file
whose hash differs from the expected one before unpickling it (a joblib file from
anywhere else is code execution), then checks that the parts fit together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from credit_risk.decision import Decision, decision_rows
from credit_risk.features import FeatureEncoder, PreprocessorMismatch
from credit_risk.network import ModelConfig, build_network, fuse_for_inference
from credit_risk.profile import TrainingProfile
from credit_risk.reasons import encoded_baseline, field_gains

if TYPE_CHECKING:  # scikit-learn is imported where it is used: serving runs without it
    from sklearn.compose import ColumnTransformer

PREPROCESSOR = "preprocessor.joblib"
PROFILE = "training_profile.json"
MANIFEST = "manifest.json"


def weights_file(config_id: str) -> str:
    return f"model_weights_{config_id}.pth"


def config_file(config_id: str) -> str:
    return f"model_config_{config_id}.yaml"


def decision_file(config_id: str) -> str:
    return f"decision_{config_id}.json"


def model_files(config_id: str) -> tuple[str, ...]:
    """The files that make up one model version."""
    return (
        weights_file(config_id),
        config_file(config_id),
        PREPROCESSOR,
        decision_file(config_id),
        PROFILE,
    )


class ArtifactError(ValueError):
    """An artifact file is missing, altered, corrupt or does not fit the others."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_hashes(directory: Path, expected: Mapping[str, str]) -> None:
    """Raise ArtifactError for a missing file or one whose sha256 is not the expected one."""
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(path, "file is missing")
        actual = sha256_of(path)
        if actual != digest:
            raise ArtifactError(path, f"sha256 {actual} does not match the expected {digest}")


@dataclass(frozen=True)
class Scorer:
    """Encoded applicant rows in, calibrated P(good) out: numpy features, network, Platt."""

    features: FeatureEncoder
    network: nn.Sequential  # as trained
    config: ModelConfig
    decision: Decision
    profile: TrainingProfile
    preprocessor_file: Path  # the fitted source of truth of `features`
    preprocessor_sha256: str
    baseline: np.ndarray = field(init=False, repr=False)  # the reason baseline, encoded

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fused", fuse_for_inference(self.network))
        if self.decision.reason_baseline is None:
            raise ValueError("the decision has no reason baseline")
        object.__setattr__(self, "baseline", encoded_baseline(self.decision.reason_baseline))

    @cached_property
    def preprocessor(self) -> ColumnTransformer:
        """The fitted preprocessor, loaded when first asked for: the offline checks and
        peers use it, serving needs only `features`."""
        return load_preprocessor(self.preprocessor_file, self.preprocessor_sha256)

    def logits(self, encoded: np.ndarray) -> np.ndarray:
        """The network's logit for "good" of each row encoded by `contract.encode`."""
        with torch.inference_mode():
            return self._fused(torch.from_numpy(self.features.transform(encoded))).numpy()[:, 0]

    def predict_proba(self, encoded: np.ndarray) -> np.ndarray:
        """Calibrated P(good) for each row encoded by `contract.encode`."""
        return self.decision.calibrate(self.logits(encoded))

    def gains(self, encoded: np.ndarray) -> np.ndarray:
        """Per row and scored field (`ENCODED_COLUMNS`), the calibrated log-odds of "good"
        the row gains when that field alone takes the reason baseline's value
        (`credit_risk.reasons`); 0 where it has that value already."""
        return self._logits_and_gains(encoded)[1]

    def _logits_and_gains(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, gains = field_gains(encoded, self.baseline, self.logits)
        return logits, self.decision.platt_slope * gains

    def decisions(self, encoded: np.ndarray, with_reasons: bool = False) -> np.ndarray:
        """What the service answers for each row, as `DECISION_ROW`s: P(good), whether the
        version's decision rule calls the applicant good, and the `gains` of each scored
        field for every declined row, and for every row `with_reasons` (NaN elsewhere).
        The one place that applies the decision rule. The gains of every row come from
        the same forward pass as the scores: one pass costs less than two, though
        most approvals' gains are then dropped."""
        logits, gains = self._logits_and_gains(encoded)
        p_good = self.decision.calibrate(logits)
        good = self.decision.calls_good(p_good)
        if not with_reasons:
            gains[good] = np.nan
        return decision_rows(p_good, good, gains)


def load_scorer(
    directory: Path,
    config_id: str,
    expected_sha256: Mapping[str, str],
    features: FeatureEncoder | None = None,
) -> Scorer:
    """Load and cross-check one model version's files after verifying their hashes.

    `features`: the preprocessor's encoder as recorded when the version was checked
    before (the model store's), else it is read from the preprocessor, with scikit-learn.
    """
    weights_path, config_path, preprocessor_path, _, profile_path = (
        directory / name for name in model_files(config_id)
    )
    missing = set(model_files(config_id)) - set(expected_sha256)
    if missing:
        raise ArtifactError(directory, f"no expected sha256 for {sorted(missing)}")
    verify_hashes(directory, expected_sha256)
    try:
        config = ModelConfig.from_yaml(config_path)
    except Exception as exc:  # yaml or validation error: report which file
        raise ArtifactError(config_path, f"invalid model config: {exc}") from exc
    decision = load_decision(directory, config_id, expected_sha256)
    try:
        if decision.reason_baseline is None:
            raise ValueError("no reason baseline (credit_risk.reasons): export it anew")
        encoded_baseline(decision.reason_baseline)
    except ValueError as exc:
        raise ArtifactError(directory / decision_file(config_id), str(exc)) from exc
    try:
        profile = TrainingProfile.from_json(profile_path)
    except Exception as exc:  # json or validation error: report which file
        raise ArtifactError(profile_path, f"invalid training profile: {exc}") from exc
    preprocessor_sha256 = expected_sha256[PREPROCESSOR]
    if features is None:
        preprocessor = load_preprocessor(preprocessor_path, preprocessor_sha256)
        try:
            features = FeatureEncoder.of(preprocessor)
        except PreprocessorMismatch as exc:  # another schema, a scale that is not finite...
            raise ArtifactError(preprocessor_path, str(exc)) from exc
    try:
        state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(weights_path, f"cannot be loaded: {exc}") from exc
    network = build_network(config, features.width)
    try:
        network.load_state_dict(state_dict, strict=True)
    except Exception as exc:
        raise ArtifactError(
            weights_path,
            f"does not fit the architecture of {config_path.name} with "
            f"{features.width} inputs from {preprocessor_path.name}: {exc}",
        ) from exc
    return Scorer(
        features, network.eval(), config, decision, profile, preprocessor_path, preprocessor_sha256
    )


def load_preprocessor(path: Path, expected_sha256: str) -> ColumnTransformer:
    """The fitted preprocessor in `path`, after verifying its hash. Whether it fits the
    contract is checked where its encoder is built (`FeatureEncoder.of` in `load_scorer`),
    once for the file with that hash."""
    import joblib

    verify_hashes(path.parent, {path.name: expected_sha256})
    try:
        return joblib.load(path)
    except Exception as exc:
        raise ArtifactError(path, f"cannot be loaded: {exc}") from exc


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(path, "file is missing") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(path, f"cannot be read: {exc}") from exc


def load_exported(directory: Path, config_id: str | None = None) -> Scorer:
    """Load one version of an export directory (default: the best under cross-validation),
    checking its files against the manifest's hashes."""
    manifest = read_manifest(directory)
    config_id = config_id or manifest["evaluation"]["best_config_id"]
    return load_scorer(directory, config_id, manifest["models"][config_id]["artifacts"])


def load_decision(directory: Path, config_id: str, expected_sha256: Mapping[str, str]) -> Decision:
    """One model version's calibration and threshold, after verifying the file's hash."""
    name = decision_file(config_id)
    if name not in expected_sha256:
        raise ArtifactError(directory, f"no expected sha256 for {name}")
    verify_hashes(directory, {name: expected_sha256[name]})
    try:
        return Decision.from_json(directory / name)
    except Exception as exc:  # json or validation error: report which file
        raise ArtifactError(directory / name, f"invalid decision file: {exc}") from exc
