"""The file command, the Spark job and the HTTP service give the same scores (1000 rows)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests

from batch_scoring.files import score_file
from batch_scoring.scoring import load_model
from credit_risk.contract import FIELDS

# PySpark 4.3 warns about pandas 3 (and uses a keyword pandas 3 deprecates); the parts used
# here are tested below.
pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator:
    """A local Spark session with two cores (starting one takes ~10-20 s)."""
    from batch_scoring.spark import local_session

    session = local_session("local[2]")
    yield session
    session.stop()


def http_scores(server: str, records: list[dict]) -> pd.DataFrame:
    with requests.Session() as session, ThreadPoolExecutor(8) as pool:
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=8))

        def score(record: dict) -> dict:
            response = session.post(f"{server}/credit_score_prediction", json=record, timeout=30)
            assert response.status_code == 200, response.text
            return response.json()

        return pd.DataFrame(list(pool.map(score, records)))


def test_spark_file_and_http_agree(
    spark, server: str, stored_model, records: list[dict], tmp_path: Path
) -> None:
    from batch_scoring.spark import score_dataframe

    tag = str(stored_model.tag)
    frame = pd.DataFrame(records).rename_axis("id").reset_index()
    source = tmp_path / "applicants.csv"
    frame.to_csv(source, index=False)
    score_file(source, tmp_path / "scored.parquet", load_model(tag), progress=False)
    by_file = pq.read_table(tmp_path / "scored.parquet").to_pandas()
    applicants = spark.createDataFrame(frame)
    assert applicants.rdd.getNumPartitions() == 2  # two Python workers each load the model
    scored = score_dataframe(applicants, tag)
    by_spark = scored.toPandas().sort_values("id", ignore_index=True)
    by_http = http_scores(server, records)

    order = list(range(len(records)))
    assert by_spark["id"].tolist() == by_file["id"].astype(int).tolist() == order
    for result in (by_file, by_spark):
        assert result["error"].isna().all()
        assert set(result["model"]) == set(by_http["model"]) == {tag}
        np.testing.assert_allclose(result["probability"], by_http["probability"], rtol=0, atol=1e-6)
        assert result["prediction"].tolist() == by_http["prediction"].tolist()


def test_spark_reports_bad_rows_and_scores_the_rest(spark, stored_model, records) -> None:
    from batch_scoring.spark import score_dataframe

    rows = [{name: str(r[name]) for name in FIELDS} for r in records[:4]]
    rows[1]["Age"] = "-3"
    rows[2]["Purpose"] = None
    frame = spark.createDataFrame(pd.DataFrame(rows).rename_axis("id").reset_index())
    out = score_dataframe(frame, str(stored_model.tag)).toPandas().sort_values("id")
    assert out["error"].tolist()[1:3] == ["Age: must be at least 18: '-3'", "Purpose: missing"]
    assert out["error"].isna().tolist() == [True, False, False, True]
    assert out["probability"].notna().tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match=r"no column \['Duration'\]"):
        score_dataframe(frame.drop("Duration"), str(stored_model.tag))
