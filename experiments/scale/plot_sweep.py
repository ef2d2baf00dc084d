"""Convergence figure from the index of an `fpkit sweep` over grid.n (and fp.dt): the L1 error
of the finite-volume density against the exact law at the last output time, log-log against the
cell width, one line per fp.dt, with the least-squares order printed (docs/sweep.md).

usage: /usr/bin/python3 experiments/scale/plot_sweep.py INDEX.h5 FIGURE.png
"""
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(index, figure):
    with h5py.File(index, "r") as f:
        status = f["points/status"].asstr()[()]
        n = f["over_numeric/grid.n"][()]
        swept_dt = "over_numeric/fp.dt" in f
        dt = f["over_numeric/fp.dt"][()] if swept_dt else np.full_like(n, np.nan)
        err = f["gather/errors/l1_fv_exact"][()][:, -1]  # [point][time]: the last time
    fig, ax = plt.subplots(figsize=(5, 4))
    for d in np.unique(dt) if swept_dt else [np.nan]:
        sel = ((dt == d) if swept_dt else np.ones(len(n), bool)) & (status == "ok")
        h = 10.0 / n[sel]  # sweep_ou.ini: [grid] lo = -5, hi = 5
        order, _ = np.polyfit(np.log(h), np.log(err[sel]), 1)
        print(f"{f'fp.dt = {d:g}: ' if swept_dt else ''}L1(fv, exact) at the last time vs n = {n[sel].astype(int)}: "
              f"{' '.join(f'{e:.3e}' for e in err[sel])}; fitted order {order:.2f}")
        ax.loglog(h, err[sel], "o-",
                  label=(f"fp.dt = {d:g}, " if swept_dt else "") + f"order {order:.2f}")
    ax.set_xlabel("cell width h")
    ax.set_ylabel("L1 error vs exact, last time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(figure, dpi=150)
    print("wrote", figure)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
