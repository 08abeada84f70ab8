#!/usr/bin/env python3
"""Functions of one binary by self instructions in callgrind dumps, hottest first, as linker section names.

    bench/hot_functions.py OBJECT_SUBSTRING DUMP...  > order.txt

Each dump weighs the same (its instructions in OBJECT are normalised to 1), so a listing's many instructions
do not push a get's functions out. Prints `.text.NAME` per line (the section of NAME when compiled with
`-function-sections`), which gold's `--section-ordering-file` reads; profile with valgrind's `--demangle=no`
so that C++ (the Swift runtime's) names stay as their sections spell them. Used by bench/layout.sh.
"""
import collections
import re
import sys

ENTRY = re.compile(r"\((\d+)\)(?: (.*))?")


def self_costs(path, wanted):
    """Self instructions per function name in one dump, for functions of objects containing `wanted`."""
    objects, functions, costs = {}, {}, collections.Counter()
    current, skip_next_cost = None, False
    obj = None
    for line in open(path, errors="replace"):
        key, sep, rest = line.rstrip("\n").partition("=")
        if sep and key in ("ob", "fn", "cfn", "cob", "calls"):
            if key == "calls":
                skip_next_cost = True  # the next cost line is a call's inclusive cost, not self cost
                continue
            m = ENTRY.match(rest)
            table = objects if key in ("ob", "cob") else functions
            if m:
                if m.group(2) is not None:
                    table[m.group(1)] = m.group(2)
                name = table.get(m.group(1))
            else:
                name = rest
            if key == "ob":
                obj = name
            elif key == "fn":
                current = name if obj and wanted in obj else None
            continue
        if line[:1].isdigit() or line[:1] in "+-*":
            if skip_next_cost:
                skip_next_cost = False
                continue
            fields = line.split()
            if current and len(fields) >= 2:
                costs[current] += int(fields[1])
    return costs


def main():
    wanted, dumps = sys.argv[1], sys.argv[2:]
    total = collections.Counter()
    for dump in dumps:
        costs = self_costs(dump, wanted)
        whole = sum(costs.values()) or 1
        for name, cost in costs.items():
            total[name] += cost / whole
    for name, _ in total.most_common():
        # Unnamed local code has no section of its own; a demangled C++ name (spaces) is not a section's.
        if not name.startswith("0x") and " " not in name:
            print(".text." + name)


if __name__ == "__main__":
    main()
