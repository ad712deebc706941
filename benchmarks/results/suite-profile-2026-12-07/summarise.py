"""Summarise a `py-spy record --subprocesses -f raw` profile of the test suite.

Usage: python summarise.py PROFILE.raw RATE_HZ. Prints where the sampled time went: by the deepest
genreport frame on each stack, by the test (or fixture) frame nearest the root, and by what was
being imported. A sample is one thread seen on CPU or in native code, so the seconds are sampled
thread time, not CPU time, and overlap between the two workers and their child processes.
"""

import collections
import re
import sys


def stacks(path):
    with open(path) as handle:
        for line in handle:
            line = line.rstrip("\n")
            try:
                stack, count = line.rsplit(" ", 1)
                yield stack.split(";"), int(count)
            except ValueError:
                continue


def main(path, rate):
    total = 0
    deepest, tests, imports = collections.Counter(), collections.Counter(), collections.Counter()
    for frames, count in stacks(path):
        total += count
        own = [f for f in frames if re.search(r"\((pipeline|report)/", f)]
        deepest[re.sub(r":\d+\)$", ")", own[-1]) if own else "(no genreport frame)"] += count
        test = [f for f in frames if re.search(r"\((tests/)?(test_\w+|conftest)\.py", f)]
        tests[re.sub(r":\d+\)$", ")", test[0]) if test else "(no test frame: pytest, xdist, or a child process before its command)"] += count
        names = [f.split(" (")[0] for f in frames]
        if "_find_and_load" in names:
            first = names.index("_find_and_load")
            caller = names[first - 1] if first else "?"
            imports[caller] += count
    print(f"samples {total}, {total / rate:.1f} s of sampled thread time at {rate} Hz\n")
    for title, counter, n in (("deepest genreport frame", deepest, 30), ("test frame nearest the root", tests, 25),
                              ("imports, by the function that started them", imports, 12)):
        print(title)
        for key, count in counter.most_common(n):
            print(f"  {count / rate:7.1f} s  {100 * count / total:4.1f}%  {key}")
        print()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
