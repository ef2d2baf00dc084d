#!/usr/bin/python3
"""Writes grid3d_overflow.h5 (119 kB): a 3D grid of 2^21 x 2^20 x 2^20 = 2^61 cells and an
unwritten (chunked, fill value 0) field /fv/density of that shape. 2^61 x sizeof(double) wraps to 0
in size_t: before the fix in src/io/h5.c (space_shape), `fpkit ot` on the configuration in
README.md allocated a 0-byte buffer for the field (src/app/ot.c, read_hdf5_marginal) and H5Dread
filled it (heap-buffer-overflow, caught by AddressSanitizer in H5VM_array_fill). Now the reader
refuses the shape: "dataset '/fv/density' has shape [1048576][1048576][2097152]: more values
than memory can hold". Usage: /usr/bin/python3 grid3d_overflow.py [OUT.h5]"""
import sys

import h5py
import numpy as np

n = [2**21, 2**20, 2**20]
out = sys.argv[1] if len(sys.argv) > 1 else "grid3d_overflow.h5"
with h5py.File(out, "w", libver="earliest") as f:
    for a, name in enumerate("xyz"):
        # cell centres i + 1/2 on [0, n]: exactly the uniform grid the attributes describe
        d = f.create_dataset("grid/" + name, data=np.arange(n[a]) + 0.5, chunks=(2**20,),
                             compression="gzip", compression_opts=9, shuffle=True)
        d.attrs["lo"] = 0.0
        d.attrs["hi"] = float(n[a])
    f.create_dataset("fv/density", shape=(n[2], n[1], n[0]), dtype="f8", chunks=(1, 1, 2**16))
