#!/usr/bin/python3
"""rensei-dask-aggregate: sum a data set made by rensei-dask-generate on a Dask cluster and report
the result, the exact expected result, and which worker (and site) ran every task, as JSON.

Modes (how workers at a site without the data volume get the data):
  pinned  load-i tasks need the abstract resource DATA (only workers with the data volume mounted
          have it: DASK_RESOURCES="DATA=1"); stats-i tasks need COMPUTE (DASK_RESOURCES=
          "COMPUTE=1"), so the arrays travel worker-to-worker over the overlay.
          Use --compute-resource "" to let stats run anywhere.
  http    every task fetches DATA_URL/data-i.npy from the data-server (read-only HTTP) and
          computes its partial sums; no restrictions, so any worker at any site takes tasks.
Usage:
  rensei-dask-aggregate [--scheduler tcp://IP:8786] [--mode pinned|http] [--data-url URL]
                        [--min-workers N] [--data-dir /data]
Exit status 0 only when the result equals the expected values.
"""
import argparse
import io
import json
import os
import sys
import time
import urllib.request

from distributed import Client, get_task_stream


def read_manifest(data_dir):
    with open(os.path.join(data_dir, "manifest.json")) as f:
        return json.load(f)


def load(path):
    import numpy as np
    return np.load(path)


def stats(arr):
    import numpy as np
    return {"count": int(arr.size), "sum": int(np.sum(arr, dtype=np.int64)),
            "sumsq": int(np.sum(arr * arr, dtype=np.int64))}


def fetch_stats(url):
    import numpy as np
    with urllib.request.urlopen(url, timeout=60) as r:
        arr = np.load(io.BytesIO(r.read()))
    return stats(arr)


def combine(*parts):
    out = {"count": 0, "sum": 0, "sumsq": 0}
    for p in parts:
        for k in out:
            out[k] += p[k]
    return out


def expected(files, rows):
    t = files * rows
    return {"count": t, "sum": t * (t - 1) // 2, "sumsq": (t - 1) * t * (2 * t - 1) // 6}


def site_of_worker():
    return os.environ.get("RENSEI_SITE", "?")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scheduler", default=os.environ.get("DASK_SCHEDULER_ADDRESS"))
    p.add_argument("--mode", choices=["pinned", "http"], default=os.environ.get("DASK_DATA_MODE", "pinned"))
    p.add_argument("--data-url", default=os.environ.get("DATA_URL", ""))
    p.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "/data"),
                   help="path of the data volume on the DATA workers (pinned mode)")
    p.add_argument("--data-resource", default="DATA")
    p.add_argument("--compute-resource", default="COMPUTE")
    p.add_argument("--min-workers", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    if not a.scheduler:
        sys.exit("--scheduler or DASK_SCHEDULER_ADDRESS is required")

    t0 = time.time()
    client = Client(a.scheduler, timeout=a.timeout)
    client.wait_for_workers(a.min_workers, timeout=a.timeout)
    info = client.scheduler_info()["workers"]
    sites = client.run(site_of_worker)
    workers = {w["name"]: {"address": addr, "site": sites.get(addr, "?"), "host": w.get("host"),
                           "resources": w.get("resources", {})} for addr, w in info.items()}
    name_of = {addr: w["name"] for addr, w in info.items()}

    def need(res):
        return {res: 1} if res else None

    with get_task_stream(client) as ts:
        if a.mode == "pinned":
            man = client.submit(read_manifest, a.data_dir, key="manifest",
                                resources=need(a.data_resource)).result()
            loads = [client.submit(load, os.path.join(a.data_dir, f), key="load-%03d" % i,
                                   resources=need(a.data_resource)) for i, f in enumerate(man["files"])]
            parts = [client.submit(stats, f, key="stats-%03d" % i, resources=need(a.compute_resource))
                     for i, f in enumerate(loads)]
        else:
            if not a.data_url:
                sys.exit("--data-url (or DATA_URL) is required in http mode")
            base = a.data_url.rstrip("/")
            with urllib.request.urlopen(base + "/manifest.json", timeout=30) as r:
                man = json.load(r)
            parts = [client.submit(fetch_stats, "%s/%s" % (base, f), key="fetch-stats-%03d" % i)
                     for i, f in enumerate(man["files"])]
        total = client.submit(combine, *parts, key="total").result()
    elapsed = time.time() - t0

    exp = expected(len(man["files"]), int(man["rows"]))
    ok = total == exp
    tasks = {}
    for rec in ts.data:
        key = rec["key"]
        key = key if isinstance(key, str) else str(key)
        w = rec.get("worker")
        tasks[key] = name_of.get(w, w)
    per_worker, per_site = {}, {}
    for key, wname in tasks.items():
        per_worker[wname] = per_worker.get(wname, 0) + 1
        s = workers.get(wname, {}).get("site", "?")
        per_site[s] = per_site.get(s, 0) + 1
    out = {
        "mode": a.mode,
        "ok": ok,
        "result": {**{k: str(v) for k, v in total.items()}, "mean": total["sum"] / total["count"]},
        "expected": {**{k: str(v) for k, v in exp.items()}, "mean": exp["sum"] / exp["count"]},
        "files": len(man["files"]),
        "workers": workers,
        "tasks": dict(sorted(tasks.items())),
        "tasks_per_worker": dict(sorted(per_worker.items())),
        "tasks_per_site": dict(sorted(per_site.items())),
        "elapsed_s": round(elapsed, 3),
    }
    print(json.dumps(out, indent=1))
    client.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
