"""Totals of an instrumented suite run: per function (functions-*.jsonl.gz) and per test (per-test-cpu-*.jsonl.gz).

Usage: python summarise.py functions-COMMIT.jsonl.gz per-test-cpu-COMMIT.jsonl.gz
"""

import collections
import gzip
import json
import sys


def rows(path: str) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def main() -> None:
    calls = collections.defaultdict(lambda: [0, 0.0])
    for row in rows(sys.argv[1]):
        calls[row["fn"]][0] += 1
        calls[row["fn"]][1] += row["cpu"]
    for name, (count, cpu) in sorted(calls.items(), key=lambda item: -item[1][1]):
        print(f"{name}: {count} calls, {cpu:.1f} CPU-s ({cpu / count:.2f} each)")
    tests = rows(sys.argv[2])
    print(f"pytest workers' own CPU in tests: {sum(r['self'] for r in tests):.1f} s; "
          f"child processes waited for: {sum(r['children'] for r in tests):.1f} s")
    for row in sorted(tests, key=lambda r: -(r["self"] + r["children"]))[:15]:
        print(f"{row['self']:6.1f} {row['children']:6.1f}  {row['test'][:110]}")


if __name__ == "__main__":
    main()
