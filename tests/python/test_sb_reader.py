#!/usr/bin/python3
"""Tests of the reader's `fpkit sb` kind (python/fpkit SBResult) on small bridges.

Run by tests/cli/python_sb.sh, which writes sb1d.h5, sb2d.h5 and ou1d.h5 (described there) and
sets FPK_TEST_OUTPUTS to their directory and PYTHONPATH to <source>/python:
    FPK_TEST_OUTPUTS=DIR PYTHONPATH=python /usr/bin/python3 tests/python/test_sb_reader.py

Every array the reader returns is compared with the same dataset read with raw h5py; every
labelled dataset's dimension names and coordinates with xarray.open_dataset's; and the
accessors that compute something with facts of the bridge that a wrong factor breaks: the
density integrates to 1, exp(log_marginal) is the marginal, the score is the finite-difference
gradient of log p, the mean velocity is the speed of the mean (m1 - m0)/T, the control of the OU
reference is b + theta x, the stored sample L1 error is |histogram - p|_1 + outside.
"""

import importlib.util
import os
import shutil
import tempfile
import unittest

import h5py
import numpy as np

import fpkit

OUT = os.environ.get("FPK_TEST_OUTPUTS", "")
FILES = ("sb1d.h5", "sb2d.h5", "ou1d.h5", "model1d.h5")


def path(name):
    return os.path.join(OUT, name)


def raw(p, name):
    with h5py.File(p, "r") as f:
        return f[name][()]


@unittest.skipUnless(OUT and os.path.isdir(OUT), "FPK_TEST_OUTPUTS not set (run python_sb.sh)")
class SBFiles(unittest.TestCase):
    def test_kind_parameters_config(self):
        for name, dim, ref in (("sb1d.h5", 1, "brownian"), ("sb2d.h5", 2, "brownian"),
                               ("ou1d.h5", 1, "ou")):
            with fpkit.open(path(name)) as r:
                self.assertIsInstance(r, fpkit.SBResult)
                self.assertEqual((r.kind, r.command), ("sb", "sb"))
                self.assertEqual(r.grid.dim, dim)
                self.assertEqual(r.reference, ref)
                self.assertEqual(r.sigma, r.config.get_float("sb", "sigma"))
                self.assertEqual(r.T, 1.0)
                self.assertEqual(r.theta, 1.0 if ref == "ou" else 0.0)
                if ref == "brownian":  # eps = 2 sigma^2 T (docs/sb.md)
                    self.assertAlmostEqual(r.eps, 2 * r.sigma ** 2 * r.T, places=14)
                with h5py.File(path(name), "r") as f:
                    self.assertEqual(r.info["sigma"], f["sb"].attrs["sigma"])
                for sec in ("grid", "mu0", "muT", "sb"):
                    self.assertIn(sec, r.config)
                self.assertIn("git_commit", r.provenance)

    def test_times_and_fields_against_h5py(self):
        for name in FILES:
            p = path(name)
            with fpkit.open(p) as r:
                t = r.t
                np.testing.assert_array_equal(t, raw(p, "sb/t"))
                nt, shape, d = t.size, r.grid.shape, r.grid.dim
                for k, tk in enumerate(t):
                    self.assertEqual(r.time_index(tk), k)
                for acc, ds in ((r.marginal, "marginal"), (r.log_phi, "log_phi"),
                                (r.log_phi_hat, "log_phi_hat")):
                    whole = acc()
                    np.testing.assert_array_equal(whole, raw(p, f"sb/{ds}"))
                    self.assertEqual(whole.shape, (nt,) + shape)
                    np.testing.assert_array_equal(acc(t[2]), whole[2])
                for backward, ds in ((False, "drift"), (True, "backward_drift")):
                    b = r.drift(backward=backward)
                    np.testing.assert_array_equal(b, raw(p, f"sb/{ds}"))
                    self.assertEqual(b.shape, (nt, d) + shape)  # [t][component][y][x]
                    np.testing.assert_array_equal(r.drift(t[1], backward=backward), b[1])
                m = r.mask()
                self.assertEqual(m.dtype, bool)
                np.testing.assert_array_equal(m, raw(p, "sb/mask") != 0)
                for attr, ds in (("mean", "mean"), ("cov", "cov"), ("mass", "mass"),
                                 ("history", "history")):
                    np.testing.assert_array_equal(getattr(r, attr), raw(p, f"sb/{ds}"))
                self.assertEqual(r.mean.shape, (nt, d))
                self.assertEqual(r.cov.shape, (nt, d, d))
                mu0, muT = r.end_marginals()
                np.testing.assert_array_equal(mu0, raw(p, "mu0/p"))
                np.testing.assert_array_equal(muT, raw(p, "muT/p"))
                if r.reference != "model":  # the model reference has no sigma attribute
                    self.assertEqual(r.sb.attrs["sigma"], r.sigma)
                self.assertEqual(r.mu0.attrs["mass"], 1.0)

    def test_time_not_an_output_time(self):
        with fpkit.open(path("sb1d.h5")) as r:
            with self.assertRaisesRegex(fpkit.FormatError, r"t = 0.3 is not an output time.*"
                                                           r"0 0.1 0.25 0.5 0.75 0.9 1"):
                r.marginal(0.3)
            self.assertEqual(r.time_index(0.5 + 1e-12), 3)

    def test_density_integrates_to_one(self):
        for name in FILES:
            with fpkit.open(path(name)) as r:
                V = r.grid.cell_volume
                for k, tk in enumerate(r.t):
                    p = r.density(tk)
                    np.testing.assert_allclose(p, r.marginal(tk) / V, rtol=1e-15, atol=0)
                    self.assertAlmostEqual(p.sum() * V, r.mass[k], delta=1e-12)
                    self.assertAlmostEqual(p.sum() * V, 1.0, delta=1e-6)
                a, b = r.end_marginals(density=True)
                self.assertAlmostEqual(a.sum() * V, 1.0, delta=1e-12)
                self.assertAlmostEqual(b.sum() * V, 1.0, delta=1e-12)
                # the bridge's ends are the end marginals, to the Sinkhorn tolerance
                mu0, muT = r.end_marginals()
                self.assertLess(np.abs(r.marginal(0.0) - mu0).sum(), 1e-8)
                self.assertLess(np.abs(r.marginal(r.T) - muT).sum(), 1e-8)

    def test_log_marginal_and_points(self):
        for name in FILES:
            with fpkit.open(path(name)) as r:
                p, logp = r.marginal(), r.log_marginal()
                pos = p > 1e-300
                np.testing.assert_allclose(np.exp(logp[pos]), p[pos], rtol=1e-10)
                X = r.points()
                self.assertEqual(X.shape, (r.grid.dim,) + r.grid.shape)
                np.testing.assert_array_equal(X[0].reshape(-1, r.grid.x.n)[0], r.grid.x.centres)
                if r.grid.dim == 2:
                    np.testing.assert_array_equal(X[1][:, 0], r.grid.y.centres)
                    np.testing.assert_array_equal(X[1][:, 5], r.grid.y.centres)
                # the moments are those of p over the cell centres
                for k in range(r.t.size):
                    m = (p[k][None] * X).reshape(r.grid.dim, -1).sum(axis=1) / p[k].sum()
                    np.testing.assert_allclose(m, r.mean[k], rtol=0, atol=1e-12)

    def test_score_is_grad_log_p(self):
        # 1D: score = (b + b-hat) / sigma^2 against the centred difference of log p (O(h^2)
        # for these near-Gaussian marginals: 1e-3 relative); sigma = 0.7 so that a missing
        # sigma^2 is off by a factor 2
        for name in ("sb1d.h5", "ou1d.h5"):
            with fpkit.open(path(name)) as r:
                h = r.grid.x.h
                for tk in r.t[1:-1]:
                    s = r.score(tk)[0]
                    lp = r.log_marginal(tk)
                    fd = (lp[2:] - lp[:-2]) / (2 * h)
                    keep = r.marginal(tk)[1:-1] > 1e-4 * r.marginal(tk).max()
                    err = np.linalg.norm(s[1:-1][keep] - fd[keep]) / np.linalg.norm(fd[keep])
                    self.assertLess(err, 1e-3, f"{name} t = {tk}")

    def test_velocity_moves_the_mean(self):
        # E_p[v] = d/dt E[X_t]: (m1 - m0)/T for the Brownian bridge between Gaussians (its mean
        # is linear in t); v = (b - b-hat)/2: without the 1/2 it is twice that
        for name in ("sb1d.h5", "sb2d.h5"):
            with fpkit.open(path(name)) as r:
                speed = (r.config.numbers("muT", "mean") - r.config.numbers("mu0", "mean")) / r.T
                for tk in r.t:
                    v = r.velocity(tk)
                    p = r.marginal(tk)
                    ev = (v * p[None]).reshape(r.grid.dim, -1).sum(axis=1)
                    np.testing.assert_allclose(ev, speed, rtol=0, atol=1e-5 * np.abs(speed).max(),
                                               err_msg=f"{name} t = {tk}")

    def test_reference_drift_and_control(self):
        with fpkit.open(path("ou1d.h5")) as r:
            x = r.grid.x.centres
            np.testing.assert_array_equal(r.reference_drift(), -1.0 * x[None])
            np.testing.assert_allclose(r.control(0.5), r.drift(0.5) + x[None], rtol=0,
                                       atol=1e-14)
            # the OU bridge's drift is not the Brownian one: the control differs from b
            self.assertGreater(np.abs(r.control(0.5) - r.drift(0.5)).max(), 1.0)
        with fpkit.open(path("sb2d.h5")) as r:
            self.assertFalse(np.any(r.reference_drift()))
            np.testing.assert_array_equal(r.control(), r.drift())

    def test_model_reference(self):
        # reference = model: no sigma or eps (NaN), the model's name, the chain's dt; the
        # reader does not guess the model's drift
        with fpkit.open(path("model1d.h5")) as r:
            self.assertEqual(r.reference, "model")
            self.assertEqual(r.model, "langevin-double-well")
            self.assertTrue(np.isnan(r.sigma) and np.isnan(r.eps))
            self.assertEqual(float(r.info["dt"]), 0.01)
            self.assertEqual(r.sample_method, "em")
            np.testing.assert_allclose(r.density(0.5).sum() * r.grid.cell_volume, 1, rtol=1e-9)
            with self.assertRaisesRegex(fpkit.FormatError, "reference = model"):
                r.reference_drift()

    def test_kl_values(self):
        with fpkit.open(path("sb1d.h5")) as r:
            with h5py.File(path("sb1d.h5"), "r") as f:
                want = {"static": f["sb"].attrs["kl_static"],
                        "girsanov": f["sb"].attrs["kl_girsanov"]}
                kinetic = f["sb"].attrs["kinetic"]
            self.assertEqual(r.kl, want)  # the exact sampler has no Monte Carlo KL
            self.assertEqual(r.kinetic, kinetic)
            self.assertLess(abs(r.kl["static"] - r.kl["girsanov"]) / r.kl["static"], 1e-6)
        with fpkit.open(path("sb2d.h5")) as r, h5py.File(path("sb2d.h5"), "r") as f:
            kl = r.kl
            self.assertEqual(sorted(kl), ["girsanov", "mc", "mc_se", "static"])
            self.assertEqual(kl["mc"], f["sample"].attrs["kl_mc"])
            self.assertEqual(kl["mc_se"], f["sample"].attrs["kl_mc_se"])
            self.assertLess(abs(kl["mc"] - kl["static"]),
                            4 * kl["mc_se"] + f["sample"].attrs["kl_mc_bias_scale"])

    def test_sample(self):
        for name, method in (("sb1d.h5", "exact"), ("sb2d.h5", "em")):
            p = path(name)
            with fpkit.open(p) as r:
                self.assertEqual(r.sample_method, method)
                self.assertEqual(r.sample.attrs["paths"], 20000)
                nt, d = r.t.size, r.grid.dim
                hist = r.histogram()
                np.testing.assert_array_equal(hist, raw(p, "sample/histogram"))
                self.assertEqual(hist.shape, (nt,) + r.grid.shape)
                outside = raw(p, "sample/outside")
                np.testing.assert_allclose(hist.reshape(nt, -1).sum(axis=1) + outside, 1.0,
                                           rtol=0, atol=1e-12)
                np.testing.assert_allclose(r.histogram(r.t[2], density=True),
                                           hist[2] / r.grid.cell_volume, rtol=1e-15)
                l1, floor = r.sample_l1()
                np.testing.assert_array_equal(l1, raw(p, "sample/l1_error"))
                np.testing.assert_array_equal(floor, raw(p, "sample/l1_floor"))
                mine = np.abs(hist - r.marginal()).reshape(nt, -1).sum(axis=1) + outside
                np.testing.assert_allclose(mine, l1, rtol=1e-12, atol=0)
                self.assertTrue(np.all(l1 / floor < 1.5), l1 / floor)
                paths = r.paths
                np.testing.assert_array_equal(paths, raw(p, "sample/paths"))
                self.assertEqual(paths.shape, (8 if name == "sb1d.h5" else 10, nt, d))
        with fpkit.open(path("ou1d.h5")) as r:
            self.assertIsNone(r.sample)
            self.assertIsNone(r.sample_method)
            self.assertIsNone(r.paths)
            with self.assertRaisesRegex(fpkit.FormatError, "no /sample group"):
                r.histogram()

    def test_kind_without_command_attribute(self):
        with tempfile.TemporaryDirectory() as d:
            q = os.path.join(d, "old.h5")
            shutil.copy(path("sb2d.h5"), q)
            with h5py.File(q, "a") as f:
                del f.attrs["command"]
            with fpkit.open(q) as r:
                self.assertEqual(r.kind, "sb")
                self.assertEqual(r.drift(0.5).shape, (2, 36, 40))


@unittest.skipUnless(OUT and os.path.isdir(OUT), "FPK_TEST_OUTPUTS not set (run python_sb.sh)")
class SBLabels(unittest.TestCase):
    """The labels are the file's dimension scales, as xarray.open_dataset reads them."""

    def setUp(self):
        if importlib.util.find_spec("xarray") is None or \
                importlib.util.find_spec("h5netcdf") is None:
            self.skipTest("no xarray or h5netcdf")

    def test_every_dataset_as_xarray_names_it(self):
        import xarray as xr
        checked = 0
        for name in FILES:
            p = path(name)
            with fpkit.open(p) as r, h5py.File(p, "r") as f:
                groups = [g for g in ("sb", "sample", "mu0", "muT", "grid") if g in f]
                for g in groups:
                    names = [k for k, v in f[g].items() if isinstance(v, h5py.Dataset)
                             and not fpkit.reader._is_index_axis(v)]
                    with xr.open_dataset(p, engine="h5netcdf", group=g) as ds:
                        for n in names:
                            where = f"{name}:/{g}/{n}"
                            with self.subTest(where):
                                want = ds[n]
                                da = r.labelled(f"{g}/{n}")
                                self.assertEqual(da.dims, want.dims, where)
                                self.assertEqual(sorted(da.coords), sorted(want.coords), where)
                                for c in da.coords:
                                    np.testing.assert_array_equal(da[c].values, want[c].values)
                                np.testing.assert_array_equal(da.values, f[g][n][()])
                                checked += 1
        self.assertGreater(checked, 60)

    def test_accessor_labels(self):
        with fpkit.open(path("sb2d.h5")) as r:
            b = r.drift(labelled=True)
            self.assertEqual(b.dims, ("t", "component", "y", "x"))
            np.testing.assert_array_equal(b["t"].values, r.t)
            np.testing.assert_array_equal(b["y"].values, r.grid.y.centres)
            b5 = r.drift(0.5, labelled=True)
            self.assertEqual(b5.dims, ("component", "y", "x"))
            self.assertEqual(float(b5["t"]), 0.5)
            np.testing.assert_array_equal(b5.values, r.drift(0.5))
            self.assertEqual(r.marginal(labelled=True).dims, ("t", "y", "x"))
            self.assertEqual(r.histogram(0.25, labelled=True).dims, ("y", "x"))
            self.assertEqual(r.labelled("sample/paths").dims, ("path", "t", "component"))
            self.assertEqual(r.labelled("sb/history").dims, ("check",))
        with fpkit.open(path("sb1d.h5")) as r:
            p = r.density(0.5, labelled=True)
            self.assertEqual(p.dims, ("x",))
            np.testing.assert_allclose(p.values, r.density(0.5), rtol=1e-15)


if __name__ == "__main__":
    unittest.main()
