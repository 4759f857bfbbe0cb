"""The benchmark harness: result rows, the table, results.json, and one tiny real run on PostgreSQL."""

import json
import os
from datetime import datetime
from io import StringIO

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command

from tooling.benchmarking.harness import SCALES, Run, format_table, markdown_table, percentile, write_results

KEYS = {"name", "value", "baseline", "ratio", "unit", "scale", "timestamp"}


def test_ratio_is_value_over_baseline_and_skips_carry_no_numbers():
    bench = Run(scale=SCALES["tiny"], seed=1, log=lambda line: None)
    rate = bench.add("ingest", 2500, 10000, "rows/s", better="higher")
    page = bench.add("page p95", 42.0, 10.5, "ms")
    skipped = bench.skip("nps", "metrics.selectors.summary does not exist yet", "ms")
    assert rate.ratio == 0.25 and page.ratio == 4.0
    assert skipped.value is None and skipped.baseline is None and skipped.ratio is None
    assert skipped.note == "skipped: metrics.selectors.summary does not exist yet"
    table = format_table(bench.results)
    assert "0.25" in table and "skipped: metrics" in table
    assert markdown_table(bench.results).count("\n") == 4


def test_percentiles_are_nearest_rank():
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile([7.0], 95) == 7.0


def test_results_json_is_a_list_of_complete_objects(tmp_path):
    bench = Run(scale=SCALES["small"], seed=1, log=lambda line: None)
    bench.add("load", 1000.0, 4000.0, "rows/s", better="higher")
    bench.skip("page", "no page yet", "ms")
    path = tmp_path / "results.json"
    write_results(path, bench.results)
    data = json.loads(path.read_text())
    assert isinstance(data, list) and len(data) == 2
    for row in data:
        assert set(row) >= KEYS
        assert row["scale"] == "small"
        datetime.fromisoformat(row["timestamp"])


@pytest.mark.postgres
def test_bench_runs_in_its_own_database_and_writes_results(tmp_path):
    db = settings.DATABASES["default"]
    name = f"cx_bench_selftest_{os.getpid()}"
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    output = tmp_path / "results.json"
    out = StringIO()
    call_command("bench", scale="tiny", only=["nps"], database_url=url, output=output, stdout=out)
    data = json.loads(output.read_text())
    names = [row["name"] for row in data]
    assert names[0] == "generate_data load (all tables)" and any(n.startswith("NPS by month") for n in names)
    for row in data:
        assert set(row) >= KEYS and row["scale"] == "tiny"
        if row["value"] is None:
            assert row["note"].startswith("skipped:")
        else:
            assert row["baseline"] > 0 and row["ratio"] == pytest.approx(
                row["value"] / row["baseline"], rel=0.01
            )
    assert output.with_suffix(".md").read_text().count("| ") > 4
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname="postgres"
    ) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None
