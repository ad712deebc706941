"""Summarise a `py-spy record --subprocesses -f raw` profile of the test suite.

Usage: python summarise.py PROFILE.raw RATE_HZ. Prints where the sampled time went: by the deepest
genreport frame on each stack, by the test (or fixture) frame nearest the root, and by what was
being imported. A sample is one thread seen on CPU or in native code, so the seconds are sampled
thread time, not CPU time, and overlap between the two workers and their child processes.
"""

import collections
import re
import sys


CHILD_STARTS = ("_run_full_locked", "run_tune_worker", "full", "_seed_child_main")


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
    child_imports, savefig, sizing = collections.Counter(), collections.Counter(), collections.Counter()
    for frames, count in stacks(path):
        total += count
        inside = [i for i, f in enumerate(frames) if f.startswith("model_size (pipeline/models/model_size.py")]
        if inside:
            callee = frames[inside[-1] + 1].split(" (")[0] if inside[-1] + 1 < len(frames) else "(its own line)"
            sizing[callee] += count
        names_only = [f.split(" (")[0] for f in frames]
        if "_svg_uri" in names_only:
            first_draw = any(f.startswith("FigureCanvasBase.print_figure (matplotlib/backend_bases.py:2257)") for f in frames)
            mathtext = "MathTextParser.parse" in names_only
            savefig["all"] += count
            savefig["the draw before saving (line 2257: made for bbox_inches or a layout engine)"] += count * first_draw
            savefig["mathtext parsing"] += count * mathtext
            savefig["both of those"] += count * (first_draw and mathtext)
            savefig["either of those"] += count * (first_draw or mathtext)
        if "_find_and_load" in names_only:
            first = names_only.index("_find_and_load")
            if first and names_only[first - 1] in CHILD_STARTS:
                heavy = any(f.startswith("<module>") and re.search(r"\((tensorflow|keras|tf_keras|tensorboard|keras_tuner)/", f)
                            for f in frames[first:])
                child_imports["TensorFlow, Keras, KerasTuner, TensorBoard" if heavy else "other packages"] += count
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
    print(f"imports started by {', '.join(CHILD_STARTS)} (a child process's first import of its command's code)")
    for key, count in child_imports.most_common():
        print(f"  {count / rate:7.1f} s  {100 * count / total:4.1f}%  {key}")
    print("\ninside model_size (pipeline/models/model_size.py), by the call it was in")
    for key, count in sizing.most_common(4):
        print(f"  {count / rate:7.1f} s  {100 * count / total:4.1f}%  {key}")
    print("\nmatplotlib savefig (in _svg_uri), shares of its samples")
    for key, count in savefig.items():
        print(f"  {count / rate:7.1f} s  {100 * count / max(savefig['all'], 1):5.1f}% of savefig  {100 * count / total:4.1f}% of all  {key}")
    print()
    for title, counter, n in (("deepest genreport frame", deepest, 30), ("test frame nearest the root", tests, 25),
                              ("imports, by the function that started them", imports, 12)):
        print(title)
        for key, count in counter.most_common(n):
            print(f"  {count / rate:7.1f} s  {100 * count / total:4.1f}%  {key}")
        print()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
