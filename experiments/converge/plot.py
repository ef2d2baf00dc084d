"""Log-log figure of one `fpkit converge` file: errors with their Monte Carlo standard errors,
the fitted slope and its confidence interval (all read from the HDF5 file).

usage: /usr/bin/python3 experiments/converge/plot.py RESULT.h5 FIGURE.png
"""
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def series(ax, h, g, label, marker):
    e = np.abs(g["error"][()])
    se = g["standard_error"][()]
    ax.errorbar(h, e, yerr=1.96 * se, fmt=marker, capsize=3, label=None)
    if g.attrs["resolved"]:
        p, lo, hi = g.attrs["order"], g.attrs["ci_lo"], g.attrs["ci_hi"]
        a, c = g.attrs["intercept"], g.attrs["correction"]
        hh = np.geomspace(h.min(), h.max(), 50)
        # the fitted model (its second correction term, used for deterministic errors, is not
        # stored and is negligible on the drawn range)
        ax.plot(hh, np.exp(a + p * np.log(hh) + c * hh), "-", lw=1,
                color=ax.lines[-1].get_color() if ax.lines else None,
                label=f"{label}: order {p:.3f} [{lo:.3f}, {hi:.3f}]")
    else:
        ax.plot([], [], marker, label=f"{label}: unresolved")


def main():
    path, fig_path = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        c = f["converge"]
        h = c["h"][()]
        fig, ax = plt.subplots(figsize=(6, 4.5))
        if "strong" in c:
            series(ax, h, c["strong"], "strong (RMS)", "o")
        if "weak" in c:
            for k in c["weak"]:
                w = c["weak"][k]
                name = w.attrs["functional"]
                name = name.decode() if isinstance(name, bytes) else name
                g = w["discrete"] if "discrete" in w else w["monte_carlo"]
                tag = "exact discrete law" if "discrete" in w else "Monte Carlo"
                series(ax, h, g, f"weak E[{name}] ({tag})", "s")
        stepper = c.attrs["stepper"]
        stepper = stepper.decode() if isinstance(stepper, bytes) else stepper
        model = f.attrs["model"]
        model = model.decode() if isinstance(model, bytes) else model
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step h")
        ax.set_ylabel("error at T")
        ax.set_title(f"{stepper} on {model}, {int(c.attrs['paths'])} paths, 95% CI")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(fig_path, dpi=120)
    print(f"wrote {fig_path}")


if __name__ == "__main__":
    main()
