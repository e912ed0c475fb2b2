"""The network built from an architecture config."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from credit_risk.network import (
    GroupedLinear,
    ModelConfig,
    build_network,
    fuse_for_inference,
    stack_members,
)
from training_export.configs import CONFIGS


@pytest.mark.parametrize("config_id", sorted(CONFIGS))
def test_blocks_follow_the_config(config_id: str) -> None:
    config = CONFIGS[config_id]
    network = build_network(config, input_dim=29)
    k = config.members
    linears = [m for m in network if isinstance(m, nn.Linear | GroupedLinear)]
    widths = [m.out_features * getattr(m, "members", 1) for m in linears]
    assert widths == [k * size for size in [*config.hidden_layers, 1]]
    assert linears[0].in_features == 29
    assert sum(isinstance(m, nn.BatchNorm1d) for m in network) == len(config.hidden_layers)
    assert all(m.p == config.dropout_rate for m in network if isinstance(m, nn.Dropout))
    assert network.eval()(torch.zeros(3, 29)).shape == (3, 1)


def test_config_round_trips_through_yaml(tmp_path) -> None:
    CONFIGS["001"].to_yaml(tmp_path / "c.yaml")
    assert ModelConfig.from_yaml(tmp_path / "c.yaml") == CONFIGS["001"]


def test_inconsistent_configs_are_refused() -> None:
    good = CONFIGS["001"].model_dump()
    with pytest.raises(ValidationError, match="one entry per hidden layer"):
        ModelConfig.model_validate({**good, "activation_functions": ["relu"]})
    with pytest.raises(ValidationError, match="unknown activation"):
        ModelConfig.model_validate({**good, "activation_functions": ["relu", "relu", "swish"]})
    with pytest.raises(ValidationError):
        ModelConfig.model_validate({**good, "dropout_rate": 1.5})


def test_fused_network_computes_the_same_function() -> None:
    torch.manual_seed(0)
    network = build_network(CONFIGS["001"], input_dim=29)
    network.train()
    network(torch.randn(256, 29))  # give BatchNorm non-trivial running statistics
    network.eval()
    fused = fuse_for_inference(network)
    assert not any(isinstance(m, nn.BatchNorm1d | nn.Dropout) for m in fused)
    x = torch.randn(1000, 29) * 3
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), network(x), rtol=0, atol=1e-5)


def test_an_ensemble_is_the_mean_of_its_members_in_one_network() -> None:
    torch.manual_seed(0)
    single = CONFIGS["001"]
    members = []
    for _ in range(3):
        member = build_network(single, input_dim=29).train()
        member(torch.randn(256, 29))  # non-trivial BatchNorm statistics
        members.append(member.eval())
    ensemble = stack_members(single.model_copy(update={"members": 3}), members)
    assert not any(isinstance(m, nn.Linear) for m in list(ensemble)[1:])  # grouped after the first
    x = torch.randn(1000, 29) * 3
    with torch.inference_mode():
        expected = torch.stack([member(x) for member in members]).mean(dim=0)
        torch.testing.assert_close(ensemble(x), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(fuse_for_inference(ensemble)(x), expected, rtol=0, atol=1e-5)
        assert ensemble[:-1](x).shape == (1000, 3)  # the members' own logits


def test_members_must_match_the_config() -> None:
    members = [build_network(CONFIGS["000"], input_dim=29).eval() for _ in range(2)]
    with pytest.raises(ValueError, match="3 members, got 2"):
        stack_members(CONFIGS["000"].model_copy(update={"members": 3}), members)
    with pytest.raises(ValidationError):
        ModelConfig.model_validate({**CONFIGS["000"].model_dump(), "members": 0})


def test_a_single_network_keeps_the_original_config_format(tmp_path) -> None:
    CONFIGS["000"].to_yaml(tmp_path / "single.yaml")
    assert "members" not in (tmp_path / "single.yaml").read_text()
    ensemble = CONFIGS["000"].model_copy(update={"members": 4})
    ensemble.to_yaml(tmp_path / "ensemble.yaml")
    assert ModelConfig.from_yaml(tmp_path / "ensemble.yaml") == ensemble
