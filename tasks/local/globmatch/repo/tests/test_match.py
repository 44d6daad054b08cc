import pytest

from globmatch import match, select


@pytest.mark.parametrize(
    ("glob", "path", "ok"),
    [
        ("*.py", "a.py", True),
        ("*.py", "pkg/sub/a.py", True),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),
        ("src/**/*.py", "src/a/b/c.py", True),
        ("file?.txt", "file1.txt", True),
        ("file[0-9].txt", "filex.txt", False),
        ("file[!0-9].txt", "filex.txt", True),
        ("*.{png,jpg}", "img/cat.jpg", True),
        ("build/", "build", False),
    ],
)
def test_match(glob, path, ok):
    assert match(glob, path) is ok


def test_dir_only():
    assert match("build/", "build", is_dir=True)


def test_select_excludes_directories():
    paths = ["src/a.py", "build/", "build/out.py", "docs/index.md"]
    assert select(paths, include=["*.py", "*.md"], exclude=["build/"]) == ["src/a.py", "docs/index.md"]
