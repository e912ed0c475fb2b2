"""Scoring a Spark DataFrame of applicants with a model version from the BentoML store.

The driver reads the model version's files from the store (BENTOML_HOME) once and ships
them with the job (about 80 kB), so executors need no model store of their own; each
executor's Python worker re-checks the files against the sha256 recorded in the store,
loads the model once and keeps it for every partition it scores. Executors need this
project's packages and pinned requirements (a shared virtualenv, or `--py-files`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

from batch_scoring.scoring import RESULT_SCHEMA, Model, check_no_result_columns, score_batch
from batch_scoring.validation import check_columns
from credit_risk.artifacts import load_scorer
from model_store.versions import DEFAULT_TAG
from training_export.paths import REPO_ROOT

ARROW_BATCH_ROWS = 65536


@dataclass(frozen=True)
class ShippedModel:
    """A stored model version's files and expected hashes, sent to the executors."""

    tag: str
    config_id: str
    sha256: dict[str, str]
    files: dict[str, bytes]

    @classmethod
    def from_store(cls, tag: str) -> ShippedModel:
        """Resolve `tag` (e.g. credit_risk:best) to one version and read its files."""
        import bentoml  # on the driver only: executors never touch the store

        from model_store.versions import resolve

        stored = bentoml.models.get(resolve(tag))
        sha256 = dict(stored.info.metadata["artifacts_sha256"])
        return cls(
            tag=str(stored.tag),
            config_id=stored.info.metadata["config_id"],
            sha256=sha256,
            files={name: Path(stored.path, name).read_bytes() for name in sha256},
        )

    def load(self) -> Model:
        """The model, loaded (hash-checked) once per Python process.

        One torch thread: Spark runs one task per core.
        """
        if self.tag not in _LOADED:
            torch.set_num_threads(1)
            with tempfile.TemporaryDirectory(prefix="credit-risk-model-") as directory:
                for name, content in self.files.items():
                    Path(directory, name).write_bytes(content)
                scorer = load_scorer(Path(directory), self.config_id, self.sha256)
            _LOADED[self.tag] = Model(self.tag, scorer)
        return _LOADED[self.tag]


_LOADED: dict[str, Model] = {}


def score_dataframe(frame: DataFrame, model: str = DEFAULT_TAG) -> DataFrame:
    """`frame` with the result columns `prediction`, `probability`, `model`, `error`.

    `frame` needs a column per contract field (numbers or text; other columns are kept).
    Invalid rows are not scored: their `error` names the fields and values.
    """
    check_columns(frame.columns)
    check_no_result_columns(frame.columns)
    shipped = ShippedModel.from_store(model)

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        loaded = shipped.load()
        for batch in batches:
            results = score_batch(pa.RecordBatch.from_pandas(batch, preserve_index=False), loaded)
            yield pd.concat([batch.reset_index(drop=True), results.to_pandas()], axis=1)

    schema = StructType(frame.schema.fields + from_arrow_schema(RESULT_SCHEMA).fields)
    return frame.mapInPandas(score_partition, schema)


def local_session(master: str = "local[2]") -> SparkSession:
    """A local Spark session whose Python workers run this interpreter and this project."""
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), path]))
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return (
        SparkSession.builder.master(master)
        .appName("credit-risk-scoring")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", ARROW_BATCH_ROWS)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
