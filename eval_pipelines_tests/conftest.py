import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import eval_pipelines
from eval_pipelines.home import HOME_ENV_VAR, Home
from eval_pipelines.lake import Lake
from eval_pipelines.landing import LandingIndex
from eval_pipelines.settings import load_ingestion_settings, load_price_table
from eval_pipelines_tests.servers import S3Server

# The fuzz tests: a minute at most by default; `--hypothesis-profile=deep` for a long search.
_FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
hypothesis_settings.register_profile("default", max_examples=40, **_FUZZ)
hypothesis_settings.register_profile("deep", max_examples=2000, **_FUZZ)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# The tests' data lies in fixed days (builders.HOUR) and yesterday: partitions from long before both.
os.environ.setdefault("EVAL_PIPELINES_START", "2025-01-01")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

# Yesterday: a day that has ended, recent enough for the UI's partition plots (its last 300 hours).
DEMO_DAY = (datetime.now(UTC) - timedelta(days=1)).date()
# Modules that run for minutes go first, longest first, so `pytest -n 3 --dist loadfile --no-loadscope-reorder` (which
# hands modules out in this order) overlaps them with each other and with the rest.
SLOW_FIRST = ("test_end_to_end.py", "test_incident_detection.py", "test_live.py", "test_incremental_landing.py")


def _stale_compiled_modules() -> list[str]:
    """Sources edited since an editable install compiled them in place (setup.py): Python would import
    the outdated compiled module instead."""
    package = Path(eval_pipelines.__file__).parent
    stale = []
    for compiled in package.rglob("*.so"):
        source = compiled.with_name(compiled.name.split(".")[0] + ".py")
        if source.exists() and source.stat().st_mtime > compiled.stat().st_mtime:
            stale.append(str(source.relative_to(package.parent)))
    return stale


def pytest_sessionstart(session: pytest.Session) -> None:
    if stale := _stale_compiled_modules():
        pytest.exit(f"compiled modules older than their sources ({', '.join(sorted(stale))}): "
                    "run `make install` to recompile them", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path / "home"))
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def index(home: Home) -> LandingIndex:
    return LandingIndex(home.landing, home.landing_index)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    with duckdb.connect() as connection:
        yield connection


@pytest.fixture(scope="session")
def settings():
    return load_ingestion_settings()


@pytest.fixture(scope="session")
def prices():
    return load_price_table()


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo day (600 requests), generated once per test session through the real stack."""
    from eval_pipelines.demo.traffic import write_demo_traffic

    landing = tmp_path_factory.mktemp("demo") / "landing"
    write_demo_traffic(landing, DEMO_DAY, requests=600, seed=11, bad_lines=60)
    return landing


@pytest.fixture
def demo_home(home: Home, demo_landing: Path) -> Home:
    shutil.copytree(demo_landing, home.landing, dirs_exist_ok=True)
    return home


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3") / "server.log") as server:
        yield server


def lake_in_new_bucket(server: S3Server, env: pytest.MonkeyPatch) -> str:
    """A lake URL in a new bucket of ``server``; ``env`` points AWS_* at it (for this process and its children)."""
    for name, value in server.env.items():
        env.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    Lake(f"s3://{bucket}").fs.mkdir(bucket)
    return f"s3://{bucket}/warehouse"


@pytest.fixture
def s3_lake_url(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A lake in a fresh bucket of the local S3 server, for this test and its subprocesses."""
    return lake_in_new_bucket(s3_server, monkeypatch)


@pytest.fixture(params=["local", "s3"])
def lake_url(request: pytest.FixtureRequest, home: Home) -> str:
    """The lake on a local folder, then on object storage: each test using it runs on both."""
    return home.lake if request.param == "local" else request.getfixturevalue("s3_lake_url")
