"""What install tests found other repositories offering, and `pkgrun check`'s word on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import RECIPES
from pkgrun.cli.main import main
from pkgrun.install.byname import Offer
from pkgrun.install.competitors import losses, record, record_file, recorded
from pkgrun.recipe.directory import load_recipes
from pkgrun.targets import TARGETS

# what EPEL 7 and EPEL 9 ship of the seed's names (the figures)
EPEL7 = [Offer("epel", "nginx-1:1.20.1-10.el7.x86_64"), Offer("epel", "nginx-1:1.16.1-3.el7.x86_64")]
EPEL9 = [Offer("epel", "supervisor-0:4.2.5-6.el9.noarch")]


def test_records_round_trip_and_replace(tmp_path: Path) -> None:
    record(tmp_path, "el7", "nginx", EPEL7)
    record(tmp_path, "el7", "supervisor", [Offer("epel", "supervisor-0:3.4.0-1.el7.noarch")])
    assert recorded(tmp_path, "el7")["nginx"] == EPEL7
    record(tmp_path, "el7", "nginx", [])
    assert recorded(tmp_path, "el7") == {
        "nginx": [],
        "supervisor": [Offer("epel", "supervisor-0:3.4.0-1.el7.noarch")],
    }


@pytest.mark.parametrize(
    "text", ["", "{}", "[", '[{"repo": 1, "nevra": "x"}, "y"]', "3", '[{"repo": "a", "nevra": "b-c"}]']
)
def test_a_record_pkgrun_did_not_write_is_no_advice(tmp_path: Path, text: str) -> None:
    record_file(tmp_path, "el7", "nginx").parent.mkdir(parents=True)
    record_file(tmp_path, "el7", "nginx").write_text(text)
    assert all(offers == [] for offers in recorded(tmp_path, "el7").values())
    assert losses(tmp_path, load_recipes(RECIPES), [TARGETS["el7"]]) == []


def test_the_seed_would_lose_to_epel_without_the_repo_settings(tmp_path: Path) -> None:
    record(tmp_path, "el7", "nginx", EPEL7)
    record(tmp_path, "el9", "supervisor", EPEL9)
    record(tmp_path, "el9", "php", [Offer("appstream", "php-0:8.0.30-1.el9.x86_64")])  # older: no loss
    found = losses(tmp_path, load_recipes(RECIPES), [TARGETS["el7"], TARGETS["el9"]])
    assert [(loss.recipe, loss.target, loss.theirs.nevra, loss.winning_epoch) for loss in found] == [
        ("nginx", "el7", "nginx-1:1.20.1-10.el7.x86_64", 2),  # 0:1.12.1 loses; 1:1.12.1 too
        ("supervisor", "el9", "supervisor-0:4.2.5-6.el9.noarch", 1),  # the same version, a lower release
    ]


def test_pkgrun_check_says_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    record(state / "pkgrun", "el7", "nginx", EPEL7)
    shutil.copytree(RECIPES, tmp_path / "recipes")
    env = {"XDG_STATE_HOME": str(state), "HOME": str(tmp_path)}
    assert main(["--recipes", str(tmp_path / "recipes"), "check"], env=env) == 0
    err = capsys.readouterr().err
    assert "nginx on el7: epel's nginx-1:1.20.1-10.el7.x86_64 is newer than pkgrun's 0:1.12.1-2.el7" in err
    assert "epoch = 2 in [package] wins there" in err


def test_a_tie_is_told_as_one(tmp_path: Path) -> None:
    record(tmp_path, "el9", "supervisor", [Offer("epel", "supervisor-0:4.2.5-1.el9.noarch")])
    (loss,) = losses(tmp_path, load_recipes(RECIPES), [TARGETS["el9"]])
    assert loss.tie and loss.winning_epoch == 1 and "is as new as pkgrun's 0:4.2.5-1.el9" in loss.text()


def test_a_planted_record_shows_nothing_it_should_not(tmp_path: Path) -> None:
    path = record_file(tmp_path, "el7", "nginx")
    path.parent.mkdir(parents=True)
    path.write_text(
        '[{"repo": "epel\\u001b]0;owned\\u0007", "nevra": "nginx-9:9-9.el7.x86_64"},'
        ' {"repo": "epel", "nevra": "nginx-9:9-9.el7.x86_64\\n\\u001b[2J"}]'
    )
    assert recorded(tmp_path, "el7") == {"nginx": []}
