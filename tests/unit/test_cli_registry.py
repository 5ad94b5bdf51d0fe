"""The root command mounts only the feature a command names, so short commands start fast."""

from __future__ import annotations

import subprocess
import sys


def _modules_loaded_by(*args: str) -> set[str]:
    script = (
        "import sys\n"
        "from abonent.cli import main\n"
        f"main({list(args)!r})\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split("\n")[-2].split())


def test_a_group_command_imports_only_its_feature() -> None:
    loaded = _modules_loaded_by("voucher", "--help")
    assert "abonent.vouchers.cli" in loaded
    assert "abonent.agents.cli" not in loaded
    assert "fpdf" not in loaded  # PDF rendering is imported by the commands that render


def test_root_help_lists_every_feature_group() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "abonent.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for group in ("agent", "payment", "voucher", "catalog", "usage", "jobs", "bills", "bench"):
        assert f" {group} " in done.stdout


def test_commands_of_different_features_run_in_one_process() -> None:
    from abonent.cli import main

    assert main(["voucher", "--help"]) == 0
    assert main(["agent", "--help"]) == 0
    assert main(["catalog", "--help"]) == 0
    assert main(["--help"]) == 0
