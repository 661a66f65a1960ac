"""The README's commands run as written, in order, after ``make demo`` (issue 15).

Each ``leadmodel`` command line of the README is parsed by the real command (unknown
options, bad values and placeholders such as ``[--json]`` fail), and every file it reads
is in the repository, in the shared data sets, written by ``make demo``
(``training/demo.sh``) or written by an earlier README command. Running them all is a
job of many minutes (three real trains); ``make demo`` itself runs in CI's smoke test.
"""

from __future__ import annotations

import re
import shlex

import pytest
import typer

from leadmodel.cli import app
from leadmodel.ingest import preset_names
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DEMO = REPO_ROOT / "training" / "demo.sh"
READS = ("--data", "--config", "--mapping")
WRITES = ("--out", "--truth-out", "--rejects")


def readme_commands() -> list[list[str]]:
    """The README's shell lines (continuations joined, comments dropped), as words."""
    lines: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(words)
    return lines


def demo_outputs() -> set[str]:
    """Files ``make demo`` leaves behind, relative to the repository."""
    text = DEMO.read_text(encoding="utf-8")
    default = re.search(r'out="\$\{1:-([^}]+)\}"', text)
    assert default, "training/demo.sh no longer names its output folder as out=${1:-...}"
    folder = default.group(1)
    files = {f"{folder}/{name}" for name in re.findall(r'"\$out/([^"]+)"', text)}
    return files | {folder, folder.split("/")[0], "mlflow.db"}


def _option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


def test_readme_commands_parse_and_read_only_files_that_exist() -> None:
    commands = readme_commands()
    leadmodel = [w for w in commands if w[0].endswith("bin/leadmodel")]
    assert len(leadmodel) >= 10, "the README lost its command examples"
    group = typer.main.get_command(app)
    made = demo_outputs()
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    for words in commands:
        line = " ".join(words)
        if words[0] == "make":
            assert re.search(rf"^{words[1]}:", makefile, re.M), f"no make target: {line}"
            continue
        if not words[0].endswith("bin/leadmodel"):
            continue  # curl, mlflow ui
        command = group.commands.get(words[1])
        assert command is not None, f"no such command: {line}"
        try:
            command.make_context(words[1], list(words[2:]))
        except typer.TyperException as exc:  # Typer's usage errors (bad option or value)
            pytest.fail(f"README command does not parse ({exc}): {line}")
        for option in READS:
            path = _option(words, option)
            if path is None or path in made:
                continue
            if option == "--mapping" and path in preset_names():
                continue  # a shipped preset (src/leadmodel/mappings/)
            if path.startswith("../shared/") and not (REPO_ROOT / path).exists():
                continue  # the shared data sets live beside the repository on this machine
            assert (REPO_ROOT / path).exists(), f"{option} {path} does not exist: {line}"
        for option in WRITES:
            path = _option(words, option)
            if path is not None:
                parent = path.rsplit("/", 1)[0] if "/" in path else "."
                assert parent == "." or parent in made or (REPO_ROOT / parent).is_dir(), line
                made.add(path)
