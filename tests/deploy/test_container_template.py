"""deploy/container/Dockerfile.template, rendered by BentoML's own Dockerfile generator.

The template replaces BentoML's SETUP_BENTO_COMPONENTS block, which leaves two copies of
the torch wheel in the image. The stock rendering is checked too: if BentoML stops copying
the Bento twice, the first test fails and the template may be dropped.
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


def test_the_template_installs_from_a_mount_and_copies_no_wheel(ours: list[str]) -> None:
    copies = [line for line in ours if line.startswith("COPY")]
    assert copies and not [line for line in copies if " . " in line or "wheels" in line]
    assert not [line for line in copies if line.split()[-2].rstrip("/") == "./env/python"]
    installs = [line for line in ours if "install.sh" in line and line.startswith("RUN")]
    assert len(installs) == 1
    assert "--mount=type=bind,source=env/python" in installs[0]


def test_the_template_keeps_bentomls_other_blocks(stock: list[str], ours: list[str]) -> None:
    for block in ("FROM ", "USER ", "ENTRYPOINT ", "WORKDIR ", "ENV BENTOML_HOME"):
        assert [line for line in ours if line.startswith(block)] == [
            line for line in stock if line.startswith(block)
        ], block
