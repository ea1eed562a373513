"""Aggregated logarithmic range proofs (Bünz, Bootle, Boneh, Poelstra, Wuille, Maxwell: "Bulletproofs:
Short Proofs for Confidential Transactions and More", IEEE S&P 2018, §4.1–4.3 with the inner-product
argument of §3, Protocol 2).

One proof shows that each of m Pedersen commitments V_j = v_j·G + γ_j·H opens to 0 ≤ v_j < 2^n, in
2·log2(n·m) + 4 points and 5 scalars: 32-bit → 622 bytes, two 32-bit values → 688 bytes. Vector bases
g, h and the inner-product base u are hashed to the curve (`group.generator_vector`), so nobody knows a
relation between them. The verifier folds the whole inner-product argument into one multi-scalar
multiplication (§6.2) instead of replaying the log n rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkp.encoding import ProofReader, ProofWriter
from zkp.errors import ProofRefused, VerificationError
from zkp.group import ORDER, G, H, Point, generator_vector, inverse, multi_exp, random_scalar
from zkp.transcript import Transcript


def proof_size(n: int, m: int) -> tuple[int, int]:
    """(points, scalars) in a proof for m values of n bits."""
    return 4 + 2 * (n * m).bit_length() - 2, 5


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def _powers(base: int, count: int) -> list[int]:
    out = [1] * count
    for i in range(1, count):
        out[i] = out[i - 1] * base % ORDER
    return out


def _inner(a: Sequence[int], b: Sequence[int]) -> int:
    return sum(x * y for x, y in zip(a, b, strict=True)) % ORDER


def _bases(size: int) -> tuple[tuple[Point, ...], tuple[Point, ...], Point]:
    return generator_vector("bp/g", size), generator_vector("bp/h", size), generator_vector("bp/u", 1)[0]


def _start(transcript: Transcript, label: str, n: int, commitments: Sequence[Point]) -> int:
    size = n * len(commitments)
    if not _is_power_of_two(size):
        raise ValueError("a range proof covers n·m values with n·m a power of two")
    transcript.append_int(f"{label}/n", n)
    transcript.append_int(f"{label}/m", len(commitments))
    for j, commitment in enumerate(commitments):
        transcript.append_point(f"{label}/V{j}", commitment)
    return size


def prove_range(
    transcript: Transcript,
    writer: ProofWriter,
    label: str,
    n: int,
    commitments: Sequence[Point],
    values: Sequence[int],
    blindings: Sequence[int],
) -> None:
    """Prove 0 ≤ values[j] < 2^n for commitments[j] = values[j]·G + blindings[j]·H."""
    for value in values:
        if not 0 <= value < 1 << n:
            raise ProofRefused(f"value is outside [0, 2^{n}); an honest prover cannot prove it in range")
    size = _start(transcript, label, n, commitments)
    m = len(commitments)
    gs, hs, u = _bases(size)

    a_l = [(value >> i) & 1 for value in values for i in range(n)]
    a_r = [(bit - 1) % ORDER for bit in a_l]
    alpha, rho = random_scalar(), random_scalar()
    s_l = [random_scalar() for _ in range(size)]
    s_r = [random_scalar() for _ in range(size)]
    big_a = multi_exp([alpha, *a_l, *a_r], [H, *gs, *hs])
    big_s = multi_exp([rho, *s_l, *s_r], [H, *gs, *hs])
    transcript.append_point(f"{label}/A", big_a)
    transcript.append_point(f"{label}/S", big_s)
    y = transcript.challenge_scalar(f"{label}/y")
    z = transcript.challenge_scalar(f"{label}/z")

    y_pow = _powers(y, size)
    two_pow = _powers(2, n)
    z_pow = [pow(z, 2 + j, ORDER) for j in range(m)]
    weights = [z_pow[i // n] * two_pow[i % n] % ORDER for i in range(size)]
    l0 = [(a - z) % ORDER for a in a_l]
    r0 = [(y_pow[i] * (a_r[i] + z) + weights[i]) % ORDER for i in range(size)]
    r1 = [y_pow[i] * s_r[i] % ORDER for i in range(size)]
    t1 = (_inner(l0, r1) + _inner(s_l, r0)) % ORDER
    t2 = _inner(s_l, r1)
    tau1, tau2 = random_scalar(), random_scalar()
    big_t1 = multi_exp([t1, tau1], [G, H])
    big_t2 = multi_exp([t2, tau2], [G, H])
    transcript.append_point(f"{label}/T1", big_t1)
    transcript.append_point(f"{label}/T2", big_t2)
    x = transcript.challenge_scalar(f"{label}/x")

    l_vec = [(l0[i] + s_l[i] * x) % ORDER for i in range(size)]
    r_vec = [(r0[i] + r1[i] * x) % ORDER for i in range(size)]
    t_hat = _inner(l_vec, r_vec)
    tau_x = (tau2 * x * x + tau1 * x + sum(z_pow[j] * blindings[j] for j in range(m))) % ORDER
    mu = (alpha + rho * x) % ORDER
    transcript.append_scalar(f"{label}/t", t_hat)
    transcript.append_scalar(f"{label}/tau", tau_x)
    transcript.append_scalar(f"{label}/mu", mu)
    big_u = transcript.challenge_scalar(f"{label}/w") * u

    for point in (big_a, big_s, big_t1, big_t2):
        writer.point(point)
    for scalar in (t_hat, tau_x, mu):
        writer.scalar(scalar)

    # The argument runs over h'_i = y^(-i)·h_i; the factors are kept as scalars until the first fold,
    # which saves n·m scalar multiplications.
    h_scale = _powers(inverse(y), size)
    g_vec, h_vec = list(gs), list(hs)
    a_vec, b_vec = l_vec, r_vec
    rounds = 0
    while len(a_vec) > 1:
        half = len(a_vec) // 2
        c_l = _inner(a_vec[:half], b_vec[half:])
        c_r = _inner(a_vec[half:], b_vec[:half])
        b_l = [b_vec[half + i] * h_scale[i] for i in range(half)]
        b_r = [b_vec[i] * h_scale[half + i] for i in range(half)]
        big_l = multi_exp([*a_vec[:half], *b_l, c_l], [*g_vec[half:], *h_vec[:half], big_u])
        big_r = multi_exp([*a_vec[half:], *b_r, c_r], [*g_vec[:half], *h_vec[half:], big_u])
        transcript.append_point(f"{label}/L{rounds}", big_l)
        transcript.append_point(f"{label}/R{rounds}", big_r)
        writer.point(big_l)
        writer.point(big_r)
        e = transcript.challenge_scalar(f"{label}/e{rounds}")
        e_inv = inverse(e)
        g_vec = [multi_exp([e_inv, e], [g_vec[i], g_vec[half + i]]) for i in range(half)]
        h_vec = [
            multi_exp([e * h_scale[i], e_inv * h_scale[half + i]], [h_vec[i], h_vec[half + i]]) for i in range(half)
        ]
        h_scale = [1] * half
        a_vec = [(a_vec[i] * e + a_vec[half + i] * e_inv) % ORDER for i in range(half)]
        b_vec = [(b_vec[i] * e_inv + b_vec[half + i] * e) % ORDER for i in range(half)]
        rounds += 1
    writer.scalar(a_vec[0])
    writer.scalar(b_vec[0])


def verify_range(transcript: Transcript, reader: ProofReader, label: str, n: int, commitments: Sequence[Point]) -> None:
    """Check a proof that every commitment opens to a value in [0, 2^n)."""
    size = _start(transcript, label, n, commitments)
    m = len(commitments)
    gs, hs, u = _bases(size)

    big_a, big_s = reader.point(f"{label} A"), reader.point(f"{label} S")
    big_t1, big_t2 = reader.point(f"{label} T1"), reader.point(f"{label} T2")
    t_hat, tau_x, mu = reader.scalar(f"{label} t"), reader.scalar(f"{label} tau"), reader.scalar(f"{label} mu")
    transcript.append_point(f"{label}/A", big_a)
    transcript.append_point(f"{label}/S", big_s)
    y = transcript.challenge_scalar(f"{label}/y")
    z = transcript.challenge_scalar(f"{label}/z")
    transcript.append_point(f"{label}/T1", big_t1)
    transcript.append_point(f"{label}/T2", big_t2)
    x = transcript.challenge_scalar(f"{label}/x")
    transcript.append_scalar(f"{label}/t", t_hat)
    transcript.append_scalar(f"{label}/tau", tau_x)
    transcript.append_scalar(f"{label}/mu", mu)
    w = transcript.challenge_scalar(f"{label}/w")

    rounds = size.bit_length() - 1
    ls: list[Point] = []
    rs: list[Point] = []
    es: list[int] = []
    for k in range(rounds):
        ls.append(reader.point(f"{label} L{k}"))
        rs.append(reader.point(f"{label} R{k}"))
        transcript.append_point(f"{label}/L{k}", ls[k])
        transcript.append_point(f"{label}/R{k}", rs[k])
        es.append(transcript.challenge_scalar(f"{label}/e{k}"))
    a_final, b_final = reader.scalar(f"{label} a"), reader.scalar(f"{label} b")

    # t̂·G + τx·H = Σ z^(2+j)·V_j + δ(y, z)·G + x·T1 + x²·T2
    y_pow = _powers(y, size)
    z_pow = [pow(z, 2 + j, ORDER) for j in range(m)]
    delta = ((z - z * z) * sum(y_pow) - sum(zp * z for zp in z_pow) * ((1 << n) - 1)) % ORDER
    check = multi_exp(
        [(t_hat - delta) % ORDER, tau_x, -x % ORDER, -x * x % ORDER, *(-zp % ORDER for zp in z_pow)],
        [G, H, big_t1, big_t2, *commitments],
    )
    if not check.is_identity:
        raise VerificationError(f"{label}: range proof polynomial commitment check fails")

    # Inner-product argument, folded: s_i = Π_k e_k^(±1) by the bits of i (most significant bit first).
    # 1/s_i is the same product with every factor inverted, so no inverse is computed per i.
    e_inv = [inverse(e) for e in es]
    s = [1] * size
    s_inv = [1] * size
    for i in range(size):
        acc = acc_inv = 1
        for k in range(rounds):
            if (i >> (rounds - 1 - k)) & 1:
                acc, acc_inv = acc * es[k] % ORDER, acc_inv * e_inv[k] % ORDER
            else:
                acc, acc_inv = acc * e_inv[k] % ORDER, acc_inv * es[k] % ORDER
        s[i], s_inv[i] = acc, acc_inv
    y_inv = _powers(inverse(y), size)
    two_pow = _powers(2, n)
    g_coeffs = [(a_final * s[i] + z) % ORDER for i in range(size)]
    h_coeffs = [
        (b_final * s_inv[i] * y_inv[i] - z - z_pow[i // n] * two_pow[i % n] * y_inv[i]) % ORDER for i in range(size)
    ]
    scalars = [
        *g_coeffs,
        *h_coeffs,
        w * (a_final * b_final - t_hat) % ORDER,
        mu,
        ORDER - 1,
        -x % ORDER,
        *(-e * e % ORDER for e in es),
        *(-ei * ei % ORDER for ei in e_inv),
    ]
    points = [*gs, *hs, u, H, big_a, big_s, *ls, *rs]
    if not multi_exp(scalars, points).is_identity:
        raise VerificationError(f"{label}: range proof inner-product argument does not verify")
