import os, resource, time, json
import pytest

def _cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    s0, c0 = _cpu(); t0 = time.monotonic()
    yield
    s1, c1 = _cpu(); t1 = time.monotonic()
    with open(f"/tmp/plug/cpu-{os.environ.get('PYTEST_XDIST_WORKER','main')}.jsonl", "a") as f:
        f.write(json.dumps({"id": item.nodeid, "self": s1 - s0, "children": c1 - c0, "wall": t1 - t0}) + "\n")
