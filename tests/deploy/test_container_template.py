"""deploy/container/Dockerfile.template, rendered by BentoML's own Dockerfile generator.

The template installs the packages in a build stage of its own instead of BentoML's
SETUP_BENTO_COMPONENTS block, which leaves two copies of the torch wheel in the image.
The stock rendering is checked too: if BentoML stops copying the Bento twice, the first
test fails and the template may be dropped.
"""

from __future__ import annotations

import pytest
import yaml
from bentoml._internal.bento.build_config import CondaOptions, DockerOptions
from bentoml._internal.container.generate import generate_containerfile

from training_export.paths import REPO_ROOT

DOCKER = yaml.safe_load((REPO_ROOT / "bentofile.yaml").read_text())["docker"]
USER = "bentoml"


def render(tmp_path, **docker: str) -> list[str]:
    """The Dockerfile's instructions, one per item (continued lines joined)."""
    options = DockerOptions(**docker).with_defaults()
    text = generate_containerfile(options, str(REPO_ROOT), conda=CondaOptions(), bento_fs=tmp_path)
    return [" ".join(line.split()) for line in text.replace("\\\n", " ").splitlines()]


@pytest.fixture
def stock(tmp_path) -> list[str]:
    return render(tmp_path, base_image=DOCKER["base_image"])


@pytest.fixture
def ours(tmp_path) -> list[str]:
    return render(tmp_path, **DOCKER)


def test_bentoml_still_copies_the_wheels_twice(stock: list[str]) -> None:
    assert f"COPY --chown={USER}:{USER} ./env/python ./env/python/" in stock
    assert f"COPY --chown={USER}:{USER} . ./" in stock


def test_bentoml_still_refuses_a_template_outside_the_working_directory(tmp_path) -> None:
    """`bentoml containerize` renders the template in a temporary copy of the Bento, so
    scripts/containerize.sh points TMPDIR into the working directory."""
    template = tmp_path / "Dockerfile.template"
    template.write_text("{% extends bento_base_template %}")
    options = DockerOptions(base_image=DOCKER["base_image"], dockerfile_template=template.name)
    with pytest.raises(ValueError, match="outside of current working directory"):
        generate_containerfile(
            options.with_defaults(), str(tmp_path), conda=CondaOptions(), bento_fs=tmp_path
        )


def test_the_template_installs_in_a_stage_of_its_own_and_copies_no_wheel(
    ours: list[str],
) -> None:
    stages = [i for i, line in enumerate(ours) if line.startswith("FROM ")]
    assert [ours[i].split()[-1] for i in stages] == ["packages", "base-container"]
    packages, image = ours[stages[0] : stages[1]], ours[stages[1] :]
    assert [line for line in packages if "install.sh" in line and line.startswith("RUN")]
    copies = [line for line in image if line.startswith("COPY")]
    assert "COPY --from=packages /app/.venv /app/.venv" in copies
    assert not [line for line in copies if " . " in line or "wheels" in line]
    assert not [line for line in copies if line.split()[-2].rstrip("/") == "./env/python"]
    assert not [line for line in image if "install.sh" in line and line.startswith("RUN")]


def test_the_template_keeps_bentomls_other_blocks(stock: list[str], ours: list[str]) -> None:
    image = ours[max(i for i, line in enumerate(ours) if line.startswith("FROM ")) :]
    for block in ("FROM ", "USER ", "ENTRYPOINT ", "WORKDIR ", "ENV BENTOML_HOME"):
        assert [line for line in image if line.startswith(block)] == [
            line for line in stock if line.startswith(block)
        ], block
