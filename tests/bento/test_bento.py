"""The built Bento: its contents, its own environment, and moving it between machines.

Builds a Bento from bentofile.yaml into the test's store and exports it and its model.
The model archive is imported into an empty store and checked file by file; the Bento
archive into another empty store, from which a fresh venv made from the Bento's own
requirements by its install script (as the image build does) serves it with
`bentoml serve TAG`, outside the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import bentoml
import pytest
import requests
import yaml

from tools.server_process import ServerProcess, free_port
from training_export.paths import REPO_ROOT

pytestmark = pytest.mark.bento

BENTOFILE = yaml.safe_load((REPO_ROOT / "bentofile.yaml").read_text())
CLI = Path(sys.executable).with_name("bentoml")
# Not installed with the torch wheel: serving never imports them (requirements-bento.txt).
TORCH_DEPENDENCIES_LEFT_OUT = {"sympy", "networkx"}


def run(*args: str | Path, home: str | Path, **kwargs) -> str:
    """Run a command with BENTOML_HOME=home; return its output, failing with it on error."""
    env = {**os.environ, "BENTOML_HOME": str(home)}
    done = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def is_cuda(requirement: str) -> bool:
    """A CUDA library of a GPU build of torch (nvidia-ml-py is BentoML's small NVML binding)."""
    return requirement.startswith("nvidia-") and not requirement.startswith("nvidia-ml-py")


@pytest.fixture(scope="module")
def bento(stored_model) -> bentoml.Bento:
    """`bentoml build` of bentofile.yaml in the test's store."""
    output = run(CLI, "build", "--output", "tag", home=os.environ["BENTOML_HOME"], cwd=REPO_ROOT)
    tag = output.strip().splitlines()[-1].removeprefix("__tag__:")
    return bentoml.bentos.get(tag)


def test_the_bento_holds_only_the_services_code(bento: bentoml.Bento) -> None:
    src = Path(bento.path) / "src"
    shipped = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    expected = {"service.py", "bentofile.yaml"} | {
        p.relative_to(REPO_ROOT).as_posix()
        for pattern in (
            "credit_risk/*.py",
            "serving/*.py",
            "serving/http/*.py",
            "serving/http/ui/*",
            "serving/records/*.py",
            "serving/records/migrations/*.py",  # the records' schema, made at start-up
            "serving/records/migrations/versions/*.py",
            "model_store/__init__.py",
            "model_store/store.py",
            "model_store/versions.py",
        )
        for p in REPO_ROOT.glob(pattern)
    }
    assert shipped == expected
    # Nothing shipped knows the repository's folders (training_export.paths).
    code = [(src / name).read_text() for name in shipped if name.endswith(".py")]
    assert not [text for text in code if "training_export" in text]


def test_the_bento_pins_the_model_version_and_carries_its_labels(
    bento: bentoml.Bento, stored_model
) -> None:
    assert [m.tag for m in bento.info.all_models] == [stored_model.tag]
    assert bento.info.labels == BENTOFILE["labels"]


def test_the_bento_installs_the_cpu_torch_wheel_and_no_cuda(bento: bentoml.Bento) -> None:
    python_env = Path(bento.path) / "env" / "python"
    locked = (python_env / "requirements.lock.txt").read_text().lower().splitlines()
    assert not [line for line in locked if line.startswith("torch") or is_cuda(line)]
    wheels = [p.name for p in (python_env / "wheels").iterdir()]
    assert wheels == [Path(w).name for w in BENTOFILE["python"]["wheels"]]
    assert wheels[0].startswith("torch-2.13.0+cpu-")


@pytest.fixture(scope="module")
def archives(bento: bentoml.Bento, stored_model, tmp_path_factory) -> Path:
    """`bentoml export` of the Bento and `bentoml models export` of its model."""
    archives = tmp_path_factory.mktemp("archives")
    here = os.environ["BENTOML_HOME"]
    run(CLI, "export", bento.tag, archives / "credit_scoring.tar", home=here)
    run(CLI, "models", "export", stored_model.tag, archives / "credit_risk.bentomodel", home=here)
    return archives


def test_models_export_and_import_move_the_model_intact(
    archives: Path, stored_model, tmp_path: Path
) -> None:
    run(CLI, "models", "import", archives / "credit_risk.bentomodel", home=tmp_path)
    tag = str(stored_model.tag)
    load = (
        "import bentoml; from model_store.store import load_scorer; "
        f"load_scorer(bentoml.models.get({tag!r}))"
    )
    run(sys.executable, "-c", load, home=tmp_path, cwd=REPO_ROOT)  # re-checks every file's hash


@pytest.fixture(scope="module")
def imported(archives: Path, tmp_path_factory) -> Path:
    """A second, empty store into which the Bento archive (it carries its model) is imported."""
    there = tmp_path_factory.mktemp("other-machine")
    run(CLI, "import", archives / "credit_scoring.tar", home=there)
    return there


@pytest.fixture(scope="module")
def bento_venv(imported: Path, bento: bentoml.Bento, tmp_path_factory) -> Path:
    """A fresh venv with the Bento's requirements, installed by the Bento's install.sh."""
    env_dir = tmp_path_factory.mktemp("bento-venv") / "venv"
    venv.create(env_dir, with_pip=True)
    bento_path = imported / "bentos" / bento.tag.name / bento.tag.version
    environ = {
        **os.environ,
        "VIRTUAL_ENV": str(env_dir),
        "PATH": f"{env_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    }
    done = subprocess.run(
        ["bash", str(bento_path / "env" / "python" / "install.sh")],
        env=environ, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    return env_dir


def test_the_bento_venv_has_cpu_torch_and_consistent_packages(bento_venv: Path) -> None:
    python = str(bento_venv / "bin" / "python")
    torch_version = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert torch_version == "2.13.0+cpu"
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format", "freeze"],
        capture_output=True, text=True, check=True,
    ).stdout.lower()  # fmt: skip
    assert not [line for line in installed.splitlines() if is_cuda(line)]
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    # Every package's requirements are met but torch's, which requirements-bento.txt trims.
    unmet = set(re.findall(r"^torch \S+ requires (\S+), which is not", check.stdout, re.M))
    assert check.stdout.count("\n") == len(unmet), check.stdout
    assert unmet == TORCH_DEPENDENCIES_LEFT_OUT


def test_the_imported_bento_serves_the_documented_answer_from_its_own_venv(
    bento_venv: Path, imported: Path, bento: bentoml.Bento, example_answer, tmp_path: Path
) -> None:
    port = free_port()
    command = [str(bento_venv / "bin" / "bentoml"), "serve", str(bento.tag),
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {"BENTOML_HOME": str(imported)}
    with ServerProcess(command, port, tmp_path / "serve.log", env=env, cwd=tmp_path) as server:
        example, answer = example_answer
        response = requests.post(f"{server.url}/credit_score_prediction", json=example, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == answer
        assert requests.get(f"{server.url}/livez", timeout=5).status_code == 200
        form = requests.get(f"{server.url}/ui", timeout=5)  # its page files are in the Bento
        assert form.status_code == 200 and 'name="Purpose"' in form.text
