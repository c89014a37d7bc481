#!/usr/bin/env python3
"""Checks that no source file includes a header from a layer above its own.

    tests/layering/check_layering.py [ROOT]     (ROOT: the checkout, default two folders up)

The layers, bottom to top (docs/architecture.md draws them):

    common/   includes nothing of ours but common/
    filters/  common/                        streaming filters, no sockets
    audit/    common/                        the trail knows nothing of filters or policy
    config/   common/, filters/              the policy builds the filters' rules
    proxy/    everything above               the network edge
    cli/      everything above; nothing includes cli/ but cli/ and the tests of its commands
    tools/, bench/  anything but cli/
    tests/    anything

Every *.cpp, *.hpp, *.h, *.ipp, *.inc and *.in under the layer folders is read; each
`#include "…"` (and `#include <…>` naming a file of ours) is resolved the way the compiler does
(beside the including file first, then from ROOT) and mapped to its top folder. Each violation
prints `file:line: <folder>/ includes <header> from <folder>/ (<folder>/ may include …)`; a
top folder holding C++ sources but no layer is reported too, so a new component gets a row here.
Exit 0 clean, 1 violations, 2 usage.
"""

import os
import re
import sys

# Which top folders each folder's sources may include (its own included).
BELOW_CLI = ["common", "filters", "audit", "config", "proxy"]
ALLOWED = {
    "common": ["common"],
    "filters": ["common", "filters"],
    "audit": ["common", "audit"],
    "config": ["common", "filters", "config"],
    "proxy": ["common", "filters", "audit", "config", "proxy"],
    "cli": BELOW_CLI + ["cli"],
    "tools": BELOW_CLI + ["tools", "bench", "tests"],
    "bench": BELOW_CLI + ["bench", "tools", "tests"],
    # The tests of cli/'s commands include cli/ (tests/unit/cli, the audit tests that read back
    # through `exportwall audit`, the volume-holds test); tests are the only place outside cli/
    # that may.
    "tests": BELOW_CLI + ["cli", "tests", "tools", "bench"],
}
# Top folders that hold no C++ of ours (a build tree is recognised by its CMakeCache.txt).
NOT_SOURCE = {"build", "docs", "docker", "certs", "scripts", "cmake"}
# This checker's own fixtures hold deliberate violations; they are not part of the checkout's
# sources (and CMake never compiles them).
FIXTURES = os.path.join("tests", "layering", "fixtures")

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".ipp", ".inc", ".cpp.in", ".hpp.in")
INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>)')


def source_files(root, top):
    """Every C++ source under ROOT/top, as paths relative to ROOT, sorted."""
    found = []
    for directory, subdirs, files in os.walk(os.path.join(root, top)):
        rel_dir = os.path.relpath(directory, root)
        subdirs[:] = sorted(
            d for d in subdirs
            if not d.startswith(".") and d != "node_modules"
            and os.path.join(rel_dir, d) != FIXTURES)
        found.extend(os.path.join(rel_dir, f) for f in files if f.endswith(SOURCE_SUFFIXES))
    return sorted(found)


def includes(path):
    """(line number, header, quoted) for each #include outside comments."""
    in_comment = False
    with open(path, encoding="utf-8", errors="replace") as text:
        for number, line in enumerate(text, 1):
            code = ""
            rest = line
            while rest:
                if in_comment:
                    end = rest.find("*/")
                    if end < 0:
                        rest = ""
                    else:
                        in_comment = False
                        rest = rest[end + 2:]
                else:
                    start = rest.find("/*")
                    line_comment = rest.find("//")
                    if line_comment >= 0 and (start < 0 or line_comment < start):
                        code += rest[:line_comment]
                        rest = ""
                    elif start >= 0:
                        code += rest[:start] + " "
                        in_comment = True
                        rest = rest[start + 2:]
                    else:
                        code += rest
                        rest = ""
            match = INCLUDE.match(code)
            if match:
                quoted = match.group(1) is not None
                yield number, match.group(1) if quoted else match.group(2), quoted


def top_folder(root, including, header, quoted):
    """The top folder of ROOT the header resolves to, or None when it is not ours."""
    candidates = []
    if quoted:  # the compiler looks beside the including file first
        candidates.append(os.path.join(os.path.dirname(including), header))
    candidates.append(header)
    for candidate in candidates:
        rel = os.path.normpath(candidate)
        if rel.startswith(".."):
            continue
        if os.path.isfile(os.path.join(root, rel)):
            return rel.split(os.sep)[0], rel
    # Not on disk (a header generated into the build tree, or a typo the compiler will
    # report): a quoted path from the repository root still names its folder.
    first = os.path.normpath(header).split(os.sep)[0]
    if quoted and first in ALLOWED:
        return first, os.path.normpath(header)
    return None, None


def unlayered_folders(root):
    """Top folders that hold C++ sources but have no row in ALLOWED."""
    unknown = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if (entry in ALLOWED or entry in NOT_SOURCE or entry.startswith(".")
                or not os.path.isdir(path) or os.path.isfile(os.path.join(path, "CMakeCache.txt"))):
            continue
        if source_files(root, entry):
            unknown.append(entry)
    return unknown


def check(root):
    problems = []
    for folder in unlayered_folders(root):
        problems.append(f"{folder}/: holds C++ sources but has no layer in "
                        f"tests/layering/check_layering.py")
    for folder, allowed in ALLOWED.items():
        for file in source_files(root, folder):
            for number, header, quoted in includes(os.path.join(root, file)):
                target, resolved = top_folder(root, file, header, quoted)
                if target is None or target in allowed:
                    continue
                may = ", ".join(f"{a}/" for a in allowed)
                problems.append(f"{file}:{number}: {folder}/ includes {resolved} from {target}/ "
                                f"({folder}/ may include {may})")
    return problems


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(argv[1] if len(argv) == 2 else os.path.join(here, "..", ".."))
    if not os.path.isdir(root):
        print(f"check_layering: {root}: not a directory", file=sys.stderr)
        return 2
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering violation(s); see docs/architecture.md", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
