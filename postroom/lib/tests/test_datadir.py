"""The data directory's permissions helpers, on real files."""

import os
import stat

from postroom.lib import datadir


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _loose_tree(tmp_path):
    root = tmp_path / "data"
    (root / "raw" / "00").mkdir(parents=True)
    for path, mode in [
        (root / "postroom.sqlite3", 0o644),
        (root / "postroom.sqlite3-wal", 0o640),
        (root / "secret_key", 0o600),
        (root / "raw" / "00" / "pack-1", 0o604),
    ]:
        path.write_bytes(b"x")
        path.chmod(mode)
    root.chmod(0o755)
    (root / "raw").chmod(0o700)
    (root / "raw" / "00").chmod(0o750)
    return root


def test_it_finds_what_group_or_others_may_reach(tmp_path):
    root = _loose_tree(tmp_path)
    found = {str(p.relative_to(tmp_path)) for p in datadir.loosened(root)}
    assert found == {
        "data",
        "data/postroom.sqlite3",
        "data/postroom.sqlite3-wal",
        "data/raw/00",
        "data/raw/00/pack-1",
    }


def test_it_tightens_directories_to_0700_and_files_to_0600(tmp_path):
    root = _loose_tree(tmp_path)
    changed = datadir.tighten(root)
    assert len(changed) == 5
    assert datadir.loosened(root) == []
    assert _mode(root) == _mode(root / "raw" / "00") == 0o700
    assert _mode(root / "postroom.sqlite3") == _mode(root / "raw" / "00" / "pack-1") == 0o600


def test_it_leaves_symbolic_links_and_their_targets_alone(tmp_path):
    root = _loose_tree(tmp_path)
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(b"not ours")
    outside.chmod(0o644)
    (root / "link").symlink_to(outside)
    datadir.tighten(root)
    assert _mode(outside) == 0o644


def test_it_describes_paths_with_their_modes(tmp_path):
    root = _loose_tree(tmp_path)
    text = datadir.describe(datadir.loosened(root), root)
    assert ". (0755)" in text and "postroom.sqlite3 (0644)" in text


def test_the_umask_makes_new_files_private(tmp_path):
    old = datadir.restrict_umask()
    try:
        path = tmp_path / "new"
        path.write_bytes(b"x")
        (tmp_path / "dir").mkdir()
        assert _mode(path) == 0o600 and _mode(tmp_path / "dir") == 0o700
    finally:
        os.umask(old)
