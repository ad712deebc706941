import numpy as np, time, resource, sys, ctypes
if sys.argv[1] == "nothp":
    libc = ctypes.CDLL("libc.so.6"); print("prctl", libc.prctl(41, 1, 0, 0, 0))  # PR_SET_THP_DISABLE
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(3):
    f0=faults(); s=time.perf_counter()
    a=np.ones(256*1024*1024//8)
    t=time.perf_counter()-s; print(f"{sys.argv[1]} np.ones 256MB: {t*1000:.0f} ms, {faults()-f0} faults")
    del a
    time.sleep(float(sys.argv[2]))
