"""Files written whole or not at all: a failed write keeps the old file and leaves no temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketpilot.atomic import atomic_path, write_text
from marketpilot.errors import UserError


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = write_text(tmp_path / "报告.md", "旧的报告\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("写了一半", encoding="utf-8")
        raise RuntimeError("the disk filled up")
    assert target.read_text(encoding="utf-8") == "旧的报告\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["报告.md"]


def test_missing_folders_are_made_and_a_folder_is_no_target(tmp_path: Path) -> None:
    assert write_text(tmp_path / "a" / "b" / "c.txt", "x").read_text(encoding="utf-8") == "x"
    with pytest.raises(UserError, match="is a folder"):
        write_text(tmp_path / "a", "x")
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="a file stands where a folder"):
        write_text(tmp_path / "file" / "c.txt", "x")
