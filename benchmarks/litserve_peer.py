"""A LitServe peer: the same model path with LitServe's dynamic batching, one worker per CPU.

LitServe validates the body in its API server process and hands each request to inference
workers over queues; a worker takes up to `MAX_BATCH` requests waiting at most
`BATCH_TIMEOUT_S`, scores them as one batch with `credit_risk`'s `Scorer`, and answers each.
Run: python -m benchmarks.litserve_peer --port 8000
"""

# No `from __future__ import annotations`: LitServe reads the request model from the
# annotation of `decode_request` at run time.
import argparse

import litserve as ls
import numpy as np

from credit_risk.contract import Applicant, encode_applicants
from credit_risk.decision import decision_rows
from serving.oversight import DecisionPolicy
from serving.schemas import CreditScore
from serving.settings import settings, usable_cpus

ROUTE = "/credit_score_prediction"
MAX_BATCH = 64
BATCH_TIMEOUT_S = 0.002
MODEL = "litserve-peer"
POLICY = DecisionPolicy.of(settings)  # the answer's `decision`, as the service takes it


class ScoringAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        import torch

        from credit_risk.artifacts import load_exported
        from training_export.paths import ARTIFACTS_DIR

        torch.set_num_threads(1)
        self.scorer = load_exported(ARTIFACTS_DIR)

    def decode_request(self, request: Applicant) -> np.ndarray:
        return encode_applicants([request])[0]

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, encoded: np.ndarray) -> np.ndarray:
        return self.scorer.decisions(encoded)

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, row: np.ndarray) -> dict:
        # A decline's gains are computed, as ours computes them, but not put into words:
        # this peer answers the documented fields only.
        answer = decision_rows(row["p_good"], row["good"])[0]
        decision = POLICY.of_row(answer, self.scorer.decision.threshold)
        return CreditScore.from_row(answer, MODEL, decision).model_dump()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=usable_cpus())
    args = parser.parse_args()
    api = ScoringAPI(max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_S, api_path=ROUTE)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=args.workers)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
