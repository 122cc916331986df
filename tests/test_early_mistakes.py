"""A recipe's mistakes are found as early as they can be, naming the file and the field: a
[files] config path or directories pattern that matches nothing the build staged fails the
stage step with the staged paths nearest to it, before anything is packaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_engine import FakeEngine
from pkgrun.outcome import Status
from test_pipeline import build, settings_for

pytestmark = pytest.mark.usefixtures("pipeline_tools")


@pytest.mark.parametrize(
    ("line", "wrong", "said"),
    [
        (
            'config = ["/etc/hello/hello.conf"]',
            'config = ["/etc/hello.conf"]',
            "files.config[0]: /etc/hello.conf is not a path the build staged; "
            "staged nearest to it: /etc/hello/hello.conf",
        ),
        (
            'directories = ["/usr/share/hello", "/etc/hello"]',
            'directories = ["/usr/share/hello", "/etc/hello*/x*"]',
            "files.directories[1]: /etc/hello*/x* matches no directory the build staged",
        ),
    ],
)
def test_a_files_path_that_matches_nothing_fails_the_stage_step_naming_the_field(
    engine: FakeEngine, tmp_path: Path, line: str, wrong: str, said: str
) -> None:
    settings = settings_for(tmp_path)
    recipe = settings.recipes / "hello" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace(line, wrong))
    (outcome,) = build(settings).outcomes
    assert outcome.status is Status.FAILED
    assert outcome.error is not None and outcome.error.startswith(f"{recipe}: {said}")
    assert outcome.exception is not None and "fix the" in str(outcome.exception.hint)
    assert "bug in pkgrun" not in str(outcome.exception.hint)
    assert not any("nfpm" in " ".join(argv) for argv in engine.calls)  # nothing was packaged
