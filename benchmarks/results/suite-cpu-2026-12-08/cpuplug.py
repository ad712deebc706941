import resource, time, json, os, pytest
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    s = resource.getrusage(resource.RUSAGE_SELF); c = resource.getrusage(resource.RUSAGE_CHILDREN); t = time.time()
    yield
    s2 = resource.getrusage(resource.RUSAGE_SELF); c2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open("/tmp/inst2/out/cpu.jsonl", "a") as f:
        f.write(json.dumps({"test": item.nodeid, "wall": time.time()-t, "self": s2.ru_utime+s2.ru_stime-s.ru_utime-s.ru_stime,
                            "children": c2.ru_utime+c2.ru_stime-c.ru_utime-c.ru_stime, "worker": os.environ.get("PYTEST_XDIST_WORKER")}) + "\n")
