"""bentofile.yaml and the Bento's requirements agree with the project's other files."""

from __future__ import annotations

import re

import yaml

from serving.settings import Settings
from training_export.paths import REPO_ROOT

BENTOFILE_TEXT = (REPO_ROOT / "bentofile.yaml").read_text()
BENTOFILE = yaml.safe_load(BENTOFILE_TEXT)


def pins(name: str) -> dict[str, str]:
    lines = (REPO_ROOT / name).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith(("#", "-")))


def test_include_patterns_are_anchored_at_the_project_root() -> None:
    assert all(p.startswith("/") for p in BENTOFILE["include"] + BENTOFILE["exclude"])


def test_every_setting_is_documented_in_bentofile_and_docs() -> None:
    documented = (REPO_ROOT / "docs" / "settings.md").read_text()
    prefix = Settings.model_config["env_prefix"]
    for field in Settings.model_fields:
        name = f"{prefix}{field}".upper()
        assert name in BENTOFILE_TEXT, name
        assert f"| `{name}` |" in documented, name


def test_the_bento_gets_torch_only_as_the_pinned_cpu_wheel() -> None:
    bento_pins = pins("requirements-bento.txt")
    assert "torch" not in {name.lower() for name in bento_pins}
    torch_version = pins("constraints.txt")["torch"]
    (wheel,) = BENTOFILE["python"]["wheels"]
    assert re.fullmatch(
        rf"\./build/wheels/torch-{re.escape(torch_version)}\+cpu-cp311-.*\.whl", wheel
    )


def test_the_bentos_pins_are_the_projects_pins() -> None:
    constraints = pins("constraints.txt")
    for name, version in pins("requirements-bento.txt").items():
        assert constraints[name] == version, name
