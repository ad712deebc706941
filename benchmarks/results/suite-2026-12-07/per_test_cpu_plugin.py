import os, resource, time, json
import pytest
def _cpu():
    s = resource.getrusage(resource.RUSAGE_SELF); c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    (s0, c0), t0 = _cpu(), time.monotonic()
    yield
    (s1, c1), t1 = _cpu(), time.monotonic()
    with open(f"/tmp/cpuplug/{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl", "a") as f:
        f.write(json.dumps({"test": item.nodeid, "wall": round(t1 - t0, 2), "self": round(s1 - s0, 2), "children": round(c1 - c0, 2), "start": round(t0, 1)}) + "\n")
