#!/usr/bin/env python3
"""Scaling model for fpkit over MPI ranks (docs/parallel.md, "Scaling model"; issue 17).

Predicts the parallel efficiency E(P) = T_compute / (T_compute + T_comm) per unit of work at
P = 64, 512 and 4096 ranks for
  - a Monte Carlo ensemble of 10^12 path-steps (the engine of src/sde/ensemble.c: rounds of
    R = max(256, 8P) blocks of 256 paths; each round ends with two agreements and a gather of
    8 R n_t nstat bytes on rank 0, which merges; docs/parallel.md "Communication volume of an
    ensemble"),
  - one ETDRK4 step of the 3D spectral solver on a 512^3 grid in slabs (src/fp/spectral*.c:
    8 (1 + n_t) transposes per step of 16 N_z Q (P - 1) / P^2 bytes per rank each, P - 1
    messages each, docs/parallel.md "3D spectral over ranks"),
from the communication volumes the code has and a stated machine. Every assumption is a
parameter below; the compute rates are the ones measured on one core of this machine
(docs/performance.md) and scale as 1/P (no other overhead is modelled: an upper bound).
Usage: /usr/bin/python3 bench/scaling_model.py [--ens-rate R] [--step128 S]
"""
import argparse
import math

p = argparse.ArgumentParser()
p.add_argument("--ens-rate", type=float, default=6.2e8,
               help="path-steps per second of one rank (measured: bench_mpi_ensemble, 1D OU EM)")
p.add_argument("--step128", type=float, default=0.353,
               help="seconds per 3D ETDRK4 step at 128^3 on one rank (measured: bench_spectral3d)")
p.add_argument("--alpha", type=float, default=2e-6, help="latency per message (s)")
p.add_argument("--node-bw", type=float, default=12.5e9,
               help="network injection bandwidth of a node (B/s; 100 Gb/s EDR InfiniBand)")
p.add_argument("--shm-bw", type=float, default=20e9,
               help="bandwidth of messages inside a node (B/s, shared by its ranks)")
p.add_argument("--cores", type=int, default=64, help="cores (= ranks) per node")
a = p.parse_args()


def rank_bw(P):
    """Bytes per second one rank can receive while every rank communicates: its node's
    bandwidth shared by the node's ranks (inside one node: shared memory)."""
    per_node = min(P, a.cores)
    return (a.shm_bw if P <= a.cores else a.node_bw) / per_node


def ensemble(P, paths=1e9, steps=1000, n_t=11, nstat=3, block=256):
    B = math.ceil(paths / block)
    R = min(B, max(256, 8 * P))
    rounds = math.ceil(B / R)
    t_comp_round = (R / P) * block * steps / a.ens_rate
    gathered = 8 * R * n_t * nstat                       # bytes rank 0 receives per round
    # two agreements and the gather tree: 3 log2(P) latencies; rank 0 alone receives, at its
    # node's whole bandwidth (its node's other ranks only send their share)
    root_bw = a.shm_bw if P <= a.cores else a.node_bw
    t_comm_round = 3 * a.alpha * math.ceil(math.log2(P)) + gathered * (P - 1) / P / root_bw
    return rounds, gathered, t_comp_round, t_comm_round


def spectral(P, N=512, n_t=3, step1=None):
    if P > N:
        return None
    Q = N * (N // 2 + 1)
    transposes = 8 * (1 + n_t)
    bytes_rank = transposes * 16 * N * Q * (P - 1) / P**2
    t1 = a.step128 * (N / 128) ** 3 * math.log2(N) / math.log2(128)
    t_comp = t1 / P
    t_comm = transposes * (P - 1) * a.alpha + bytes_rank / rank_bw(P)
    return bytes_rank, t_comp, t_comm


print("Ensemble of 10^12 path-steps (10^9 paths x 1000 steps, 1D, 11 outputs, nstat = 3):")
print(f"{'P':>6} {'rounds':>7} {'bytes/round':>12} {'compute/round':>14} {'comm/round':>11} {'E':>6}")
for P in (2, 64, 512, 4096):
    r, g, tc, tm = ensemble(P)
    print(f"{P:>6} {r:>7} {g:>12.3g} {tc*1e3:>11.3f} ms {tm*1e3:>8.3f} ms {tc/(tc+tm):>6.1%}")
print()
print("3D spectral ETDRK4 step, 512^3, additive noise (n_t = 3), slabs along z:")
print(f"{'P':>6} {'bytes/rank':>11} {'compute':>10} {'comm':>10} {'E':>6}")
for P in (2, 64, 512, 4096):
    s = spectral(P)
    if s is None:
        print(f"{P:>6}  refused: more ranks than the 512 planes of a slab decomposition (pencils)")
        continue
    b, tc, tm = s
    print(f"{P:>6} {b:>11.3g} {tc:>8.3f} s {tm:>8.3f} s {tc/(tc+tm):>6.1%}")
