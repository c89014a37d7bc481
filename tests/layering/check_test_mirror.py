#!/usr/bin/env python3
"""Checks that the unit tests mirror the source tree (issue 21, item 5).

    tests/layering/check_test_mirror.py [ROOT]     (ROOT: the checkout, default two folders up)
    tests/layering/check_test_mirror.py --self-test

Every folder under cli/ common/ config/ filters/ audit/ proxy/ tools/ that holds C++ sources
(*.cpp, *.hpp, *.h, *.cpp.in) must have its mirror under tests/unit/ — `proxy/http/` has
`tests/unit/proxy/http/` — holding at least one `*_test.cpp`. Each folder without one prints
`<folder>/: no tests/unit/<folder>/*_test.cpp`. Exit 0 clean, 1 a folder without tests, 2 usage.
"""

import os
import sys
import tempfile

SOURCE_TOPS = ["cli", "common", "config", "filters", "audit", "proxy", "tools"]
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cpp.in")


def source_folders(root):
    """Every folder (relative to ROOT) under the source tops that holds a C++ source, sorted."""
    found = []
    for top in SOURCE_TOPS:
        for directory, subdirs, files in os.walk(os.path.join(root, top)):
            subdirs.sort()
            if any(f.endswith(SOURCE_SUFFIXES) for f in files):
                found.append(os.path.relpath(directory, root))
    return sorted(found)


def missing_mirrors(root):
    missing = []
    for folder in source_folders(root):
        mirror = os.path.join(root, "tests", "unit", folder)
        tests = os.listdir(mirror) if os.path.isdir(mirror) else []
        if not any(f.endswith("_test.cpp") for f in tests):
            missing.append(folder)
    return missing


def check(root):
    missing = missing_mirrors(root)
    for folder in missing:
        print(f"{folder}/: no tests/unit/{folder}/*_test.cpp")
    return 1 if missing else 0


def self_test():
    """A tiny tree: proxy/http/ has its mirror, proxy/ops/ and common/ do not."""
    with tempfile.TemporaryDirectory() as root:
        def touch(path):
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            open(os.path.join(root, path), "w").close()
        touch("proxy/http/target.cpp")
        touch("tests/unit/proxy/http/target_test.cpp")
        touch("proxy/ops/admin.cpp")
        touch("tests/unit/proxy/ops/helpers.hpp")  # a folder without a test is no mirror
        touch("common/hex.hpp")
        touch("config/examples/demo.xml")  # no C++: needs no tests
        got = missing_mirrors(root)
    want = ["common", os.path.join("proxy", "ops")]
    if got != want:
        print(f"self-test: expected {want}, got {got}")
        return 1
    return 0


def main(argv):
    if len(argv) > 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(__file__), "..", "..")
    return check(os.path.abspath(root))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
