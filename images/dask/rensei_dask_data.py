#!/usr/bin/python3
"""rensei-dask-generate: write a data set whose aggregates are known exactly.

File i (data-000.npy ... ) holds the int64 numbers i*ROWS ... (i+1)*ROWS-1, so the whole set is
0 ... T-1 with T = FILES*ROWS and
    sum   = T*(T-1)/2
    sumsq = (T-1)*T*(2T-1)/6
A manifest.json lists the files and these values. Usage:
    rensei-dask-generate [--dir /data] [--files 16] [--rows 100000]
"""
import argparse
import json
import os
import sys

import numpy as np


def expected(files, rows):
    t = files * rows
    return {"count": t, "sum": t * (t - 1) // 2, "sumsq": (t - 1) * t * (2 * t - 1) // 6}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=os.environ.get("DATA_DIR", "/data"))
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--rows", type=int, default=100000)
    a = p.parse_args()
    exp = expected(a.files, a.rows)
    # per-file sums of squares must fit in int64 (numpy sums in int64)
    if exp["sumsq"] >= 2**63:
        sys.exit("data set too large for exact int64 sums of squares")
    os.makedirs(a.dir, exist_ok=True)
    names = []
    for i in range(a.files):
        name = "data-%03d.npy" % i
        tmp = os.path.join(a.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.arange(i * a.rows, (i + 1) * a.rows, dtype=np.int64))
        os.replace(tmp, os.path.join(a.dir, name))
        names.append(name)
    manifest = {"files": names, "rows": a.rows, **{k: str(v) for k, v in exp.items()}}
    tmp = os.path.join(a.dir, ".manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(a.dir, "manifest.json"))
    print(json.dumps({"dir": a.dir, "files": a.files, "rows": a.rows, **{k: str(v) for k, v in exp.items()}}))


if __name__ == "__main__":
    main()
