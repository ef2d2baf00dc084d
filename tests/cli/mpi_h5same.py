#!/usr/bin/python3
"""Bitwise comparison of fpkit HDF5 outputs for the MPI tests (tests/cli/mpi_*.sh).

  mpi_h5same.py REF.h5 OTHER.h5...
Every dataset (its dtype, shape and raw bytes), its dimension scales (by name) and every
attribute of every group and dataset must be the same; only provenance is ignored: the /provenance group and attributes whose name
says they are a wall time, a host, a process or the command line (they differ from run to run
whatever the numbers). Exit 0 when every file matches REF, 1 listing the differences.
"""
import sys

import h5py
import numpy as np

IGNORED_GROUPS = ("provenance",)
IGNORED_ATTR_WORDS = ("wall", "host", "argv", "command_line", "created", "pid", "elapsed",
                      "seconds", "start", "end_time", "finished")


def ignored_attr(name):
    n = name.lower()
    return any(w in n for w in IGNORED_ATTR_WORDS)


def raw(v):
    a = np.asarray(v)
    if a.dtype.kind == "O":
        return repr(a.tolist()).encode()
    return a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes()


def collect(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if name.split("/")[0] in IGNORED_GROUPS:
                return
            if isinstance(obj, h5py.Dataset):
                out["D " + name] = raw(obj[()])
                # dimension scales by name (their REFERENCE_LIST/DIMENSION_LIST attributes hold
                # object addresses, which differ between files of the same content)
                scales = [[s.name for s in d.values()] for d in obj.dims]
                out["S " + name] = repr(scales).encode()
            for k, v in obj.attrs.items():
                if k in ("REFERENCE_LIST", "DIMENSION_LIST"):
                    continue
                if not ignored_attr(k):
                    out["A " + name + "@" + k] = raw(v)
        for k, v in f.attrs.items():
            if not ignored_attr(k):
                out["A /@" + k] = raw(v)
        f.visititems(visit)
    return out


def main(argv):
    ref = collect(argv[1])
    nd = sum(1 for k in ref if k.startswith("D "))
    fails = []
    for p in argv[2:]:
        other = collect(p)
        for k in sorted(set(ref) ^ set(other)):
            fails.append(f"{p}: {k} only in one file")
        for k in sorted(set(ref) & set(other)):
            if ref[k] != other[k]:
                fails.append(f"{p}: {k} differs")
    for f in fails:
        print(f)
    if not fails:
        print(f"identical: {nd} datasets and {len(ref) - nd} attributes in {len(argv) - 1} files")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
