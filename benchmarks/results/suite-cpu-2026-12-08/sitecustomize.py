import atexit, os, sys, time, resource, json
_t0 = time.time()
_TF = {}
def _w():
    try:
        r = resource.getrusage(resource.RUSAGE_SELF)
        with open("/tmp/inst2/out/log.jsonl", "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "argv": sys.argv[:12], "wall": time.time()-_t0,
                                "cpu": r.ru_utime + r.ru_stime, "tf": "tensorflow" in sys.modules, "tfimp": _TF.get("cpu"), "keras": "keras" in sys.modules, "test": os.environ.get("PYTEST_CURRENT_TEST", "")}) + "\n")
    except Exception:
        pass
atexit.register(_w)
# time selected functions once their modules load
import importlib.abc, importlib.machinery
WATCH = {"tensorflow": [], "genreport.report.render": ["lay_out_pdf", "render_html"], "genreport.report.context": ["build_context"],
         "genreport.pipeline.data.fashion_mnist": ["load_dataset"]}
def _wrap(mod, name):
    fn = getattr(mod, name)
    def w(*a, **k):
        r0 = resource.getrusage(resource.RUSAGE_THREAD); t = time.time()
        try:
            return fn(*a, **k)
        finally:
            r1 = resource.getrusage(resource.RUSAGE_THREAD)
            with open("/tmp/inst2/out/fn.jsonl", "a") as f:
                f.write(json.dumps({"fn": mod.__name__ + "." + name, "wall": time.time()-t, "cpu": r1.ru_utime+r1.ru_stime-r0.ru_utime-r0.ru_stime,
                                    "pid": os.getpid(), "test": os.environ.get("PYTEST_CURRENT_TEST", "")}) + "\n")
    w.__wrapped__ = fn
    setattr(mod, name, w)
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in WATCH: return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None: return None
        loader = spec.loader
        class L(importlib.abc.Loader):
            def create_module(self, s): return loader.create_module(s)
            def exec_module(self, m):
                if fullname == "tensorflow":
                    r0 = resource.getrusage(resource.RUSAGE_SELF)
                    loader.exec_module(m)
                    r1 = resource.getrusage(resource.RUSAGE_SELF)
                    _TF["cpu"] = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
                    return
                loader.exec_module(m)
                for n in WATCH[fullname]: _wrap(m, n)
        spec.loader = L()
        return spec
import importlib.util
sys.meta_path.insert(0, _Finder())
