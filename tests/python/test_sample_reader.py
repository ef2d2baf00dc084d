#!/usr/bin/python3
"""Tests of the reader's `fpkit sample` kind (python/fpkit SampleResult) on small sampler runs.

Run by tests/cli/python_sample.sh, which writes s1d.h5 (1D, DPM-Solver-2) and s2d.h5 (2D,
reverse-SDE Euler-Maruyama on a 30 x 32 grid whose x and y differ) and sets FPK_TEST_OUTPUTS to
their directory and PYTHONPATH to <source>/python:
    FPK_TEST_OUTPUTS=DIR PYTHONPATH=python /usr/bin/python3 tests/python/test_sample_reader.py

Every array the reader returns is compared with the dataset read with raw h5py, and the
accessors that compute something with facts a wrong factor breaks: the density option divides by
the cell volume, the stored l1_error is |histogram - p|_1 + |outside - p_out|, the 2D target
cell probabilities are the density at the centres times the cell volume, the kept points are
the first of the sample (their mean is the sample mean to a few standard errors).
"""

import os
import unittest

import h5py
import numpy as np

import fpkit

OUT = os.environ.get("FPK_TEST_OUTPUTS", "")


def path(name):
    return os.path.join(OUT, name)


@unittest.skipUnless(OUT and os.path.isdir(OUT), "FPK_TEST_OUTPUTS not set (run python_sample.sh)")
class SampleFiles(unittest.TestCase):
    def test_kind_and_info(self):
        for name, dim, family, method in (("s1d.h5", 1, "pf-ode", "dpm-solver-2"),
                                          ("s2d.h5", 2, "reverse-sde", "reverse-em")):
            with fpkit.open(path(name)) as r:
                self.assertIsInstance(r, fpkit.SampleResult)
                self.assertEqual((r.kind, r.command), ("sample", "sample"))
                self.assertEqual(r.grid.dim, dim)
                self.assertEqual((r.family, r.method), (family, method))
                self.assertEqual(r.paths, int(r.config.get_float("sample", "paths")))
                with h5py.File(path(name), "r") as f:
                    self.assertEqual(r.nfe, int(f["sample"].attrs["nfe"]))
                    self.assertEqual(r.t_target, float(f["target"].attrs["t"]))
                    for k in ("weights", "means", "covs"):
                        np.testing.assert_array_equal(r.data[k], f["data/" + k][()])
                self.assertIsNone(r.part("no_such_group"))
                self.assertIn("git_commit", r.provenance)

    def test_arrays_equal_raw(self):
        for name in ("s1d.h5", "s2d.h5"):
            with fpkit.open(path(name)) as r, h5py.File(path(name), "r") as f:
                np.testing.assert_array_equal(r.target(), f["target/p"][()])
                np.testing.assert_array_equal(r.target(density=True), f["target/density"][()])
                np.testing.assert_array_equal(r.histogram(), f["sample/histogram"][()])
                np.testing.assert_array_equal(r.points, f["sample/points"][()])
                np.testing.assert_array_equal(r.mean, f["sample/mean"][()])
                np.testing.assert_array_equal(r.cov, f["sample/cov"][()])
                np.testing.assert_array_equal(r.target_mean, f["target/mean"][()])
                np.testing.assert_array_equal(r.target_cov, f["target/cov"][()])
                self.assertEqual(r.l1(), f["sample"].attrs["l1_error"])
                self.assertAlmostEqual(r.l1() / r.floors(), f["sample"].attrs["l1_floor"], delta=1e-15)
                self.assertIsInstance(r.part("sample"), fpkit.Group)

    def test_computed_facts(self):
        for name in ("s1d.h5", "s2d.h5"):
            with fpkit.open(path(name)) as r:
                vol = r.grid.cell_volume
                h, p = r.histogram(), r.target()
                np.testing.assert_allclose(r.histogram(density=True) * vol, h, rtol=1e-15)
                outside = r.info["outside"]
                self.assertAlmostEqual(h.sum() + outside, 1.0, places=12)
                p_out = max(0.0, 1.0 - p.sum())
                l1 = np.abs(h - p).sum() + abs(outside - p_out)
                self.assertAlmostEqual(r.l1(), l1, places=10)
                # an exact-score sampler at its step counts sits within a few sampling floors
                self.assertLess(r.floors(), 3.0)
                pts = r.points
                self.assertEqual(pts.shape, (int(r.config.get_float("sample", "keep")), r.grid.dim))
        with fpkit.open(path("s2d.h5")) as r:  # 2D: p by quadrature, close to density x volume
            mid = r.target(density=True) * r.grid.cell_volume
            self.assertLess(np.abs(r.target() - mid).sum(), 0.06)  # the midpoint rule is O(h^2)
            self.assertIsNone(r.ks)
        with fpkit.open(path("s1d.h5")) as r:  # 1D: CDF differences, KS present and small
            self.assertLess(r.ks, 0.03)
            # the midpoint rule differs from the CDF differences by O(h^2) relative, not O(1)
            np.testing.assert_allclose(r.target(), r.target(density=True) * r.grid.cell_volume,
                                       rtol=0.05, atol=1e-6)


if __name__ == "__main__":
    unittest.main()
