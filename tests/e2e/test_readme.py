"""The README is the front door: short, opening with the two commands, the second one what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    """The commands of the README's first ``bash`` block, comments left out."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README opens with a bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_is_short_and_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert text.index("```bash") < text.index("\n## ")  # before any section
    run, test = readme_commands()
    assert run == "pip install -e . && kerashpo run pipelines/digits.yaml"
    assert test.endswith("pip install -e '.[test]' && pytest")


def test_ci_runs_the_readme_test_command_as_written():
    _, test = readme_commands()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci
    script = test.split("&&")[0].split()[-1]  # the system packages come from the project's own script
    assert (ROOT / script).is_file() and "apt-get install" in (ROOT / script).read_text()
