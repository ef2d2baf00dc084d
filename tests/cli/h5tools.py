#!/usr/bin/python3
"""Helpers shared by the command-line tests that read fpkit's HDF5 output.

  h5tools.py config FILE.h5 OUT.ini   writes the resolved configuration stored in FILE.h5
As a module: datasets(path) -> ({name: array}, root attributes), and
identical(reference, others) -> list of failures (dataset sets or bytes that differ).
"""
import sys

import h5py
import numpy as np


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        attrs = dict(f.attrs)
    return out, attrs


def identical(ref, others):
    """others: [(datasets, label)]; every dataset of ref must be present and bitwise equal."""
    fails = []
    for other, label in others:
        if sorted(other) != sorted(ref):
            fails.append(f"{label}: different datasets {sorted(set(other) ^ set(ref))}")
        for k in ref:
            if k in other and ref[k].tobytes() != other[k].tobytes():
                diff = (f" (max |diff| {np.max(np.abs(ref[k] - other[k])):.3g})"
                        if np.shape(ref[k]) == np.shape(other[k]) else "")
                fails.append(f"{label}: {k} differs{diff}")
    return fails


def write_config(h5, out):
    with h5py.File(h5, "r") as f:
        config = f.attrs["config"]
    with open(out, "w") as o:
        o.write(config.decode() if isinstance(config, bytes) else config)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "config":
        write_config(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
