"""Shared code of the credit-risk service: data contract, features, network, artifacts."""
