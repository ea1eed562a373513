"""Schnorr-style Σ-protocols over (G, H), made non-interactive with the shared transcript.

Proofs are sent in challenge–response form: the verifier recomputes each commitment A from (c, z) and
the statement, absorbs it, and accepts only if the transcript yields the same c. That is as sound as
sending A and shorter by a point.

- zero:      P = r·H for a known r, i.e. P commits to 0 (equality: P = C − x·G).
- non-zero:  P = d·G + r·H with d ≠ 0, shown by a representation G = a·P + b·H (a = 1/d, b = −r/d);
             for d = 0 such a representation would reveal log_H(G).
- one of:    P_i = r·H for one hidden i (Cramer–Damgård–Schoenmakers OR-composition of `zero`).
- all non-zero: every P_i commits to a non-zero value, the `non-zero` proofs AND-composed under one
             challenge (2 scalars each instead of 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from zkp.encoding import ProofReader, ProofWriter
from zkp.errors import VerificationError
from zkp.group import ORDER, G, H, Point, inverse, multi_exp, random_scalar
from zkp.transcript import Transcript


def prove_zero(transcript: Transcript, writer: ProofWriter, label: str, point: Point, blinding: int) -> None:
    transcript.append_point(f"{label}/P", point)
    k = random_scalar()
    transcript.append_point(f"{label}/A", k * H)
    c = transcript.challenge_scalar(f"{label}/c")
    writer.scalar(c)
    writer.scalar((k + c * blinding) % ORDER)


def verify_zero(transcript: Transcript, reader: ProofReader, label: str, point: Point) -> None:
    transcript.append_point(f"{label}/P", point)
    c, z = reader.scalar(f"{label} challenge"), reader.scalar(f"{label} response")
    transcript.append_point(f"{label}/A", multi_exp([z, -c], [H, point]))
    if transcript.challenge_scalar(f"{label}/c") != c:
        raise VerificationError(f"{label}: proof that the commitment opens to the stated value does not verify")


def prove_nonzero(
    transcript: Transcript, writer: ProofWriter, label: str, point: Point, value: int, blinding: int
) -> None:
    transcript.append_point(f"{label}/P", point)
    a = inverse(value)
    b = -blinding * a % ORDER
    k1, k2 = random_scalar(), random_scalar()
    transcript.append_point(f"{label}/A", multi_exp([k1, k2], [point, H]))
    c = transcript.challenge_scalar(f"{label}/c")
    writer.scalar(c)
    writer.scalar((k1 + c * a) % ORDER)
    writer.scalar((k2 + c * b) % ORDER)


def verify_nonzero(transcript: Transcript, reader: ProofReader, label: str, point: Point) -> None:
    transcript.append_point(f"{label}/P", point)
    c = reader.scalar(f"{label} challenge")
    z1, z2 = reader.scalar(f"{label} response 1"), reader.scalar(f"{label} response 2")
    transcript.append_point(f"{label}/A", multi_exp([z1, z2, -c], [point, H, G]))
    if transcript.challenge_scalar(f"{label}/c") != c:
        raise VerificationError(f"{label}: proof that the committed value differs from the stated one does not verify")


def prove_one_of_zero(
    transcript: Transcript,
    writer: ProofWriter,
    label: str,
    points: Sequence[Point],
    index: int,
    blinding: int,
) -> None:
    """Prove that points[index] = blinding·H without revealing index; the others are simulated."""
    for i, point in enumerate(points):
        transcript.append_point(f"{label}/P{i}", point)
    challenges = [random_scalar() for _ in points]
    responses = [random_scalar() for _ in points]
    k = random_scalar()
    for i, point in enumerate(points):
        commitment = k * H if i == index else multi_exp([responses[i], -challenges[i]], [H, point])
        transcript.append_point(f"{label}/A{i}", commitment)
    c = transcript.challenge_scalar(f"{label}/c")
    challenges[index] = (c - sum(ch for i, ch in enumerate(challenges) if i != index)) % ORDER
    responses[index] = (k + challenges[index] * blinding) % ORDER
    for ch, z in zip(challenges, responses, strict=True):
        writer.scalar(ch)
        writer.scalar(z)


def verify_one_of_zero(transcript: Transcript, reader: ProofReader, label: str, points: Sequence[Point]) -> None:
    for i, point in enumerate(points):
        transcript.append_point(f"{label}/P{i}", point)
    pairs = [
        (reader.scalar(f"{label} challenge {i}"), reader.scalar(f"{label} response {i}")) for i in range(len(points))
    ]
    for i, (point, (ch, z)) in enumerate(zip(points, pairs, strict=True)):
        transcript.append_point(f"{label}/A{i}", multi_exp([z, -ch], [H, point]))
    if transcript.challenge_scalar(f"{label}/c") != sum(ch for ch, _ in pairs) % ORDER:
        raise VerificationError(f"{label}: proof that the committed value is one of the stated ones does not verify")


def prove_all_nonzero(
    transcript: Transcript,
    writer: ProofWriter,
    label: str,
    points: Sequence[Point],
    values: Sequence[int],
    blindings: Sequence[int],
) -> None:
    """Prove points[i] = values[i]·G + blindings[i]·H with every values[i] ≠ 0, under one challenge."""
    for i, point in enumerate(points):
        transcript.append_point(f"{label}/P{i}", point)
    nonces = [(random_scalar(), random_scalar()) for _ in points]
    for i, (point, (k1, k2)) in enumerate(zip(points, nonces, strict=True)):
        transcript.append_point(f"{label}/A{i}", multi_exp([k1, k2], [point, H]))
    c = transcript.challenge_scalar(f"{label}/c")
    writer.scalar(c)
    for (k1, k2), value, blinding in zip(nonces, values, blindings, strict=True):
        a = inverse(value)
        writer.scalar((k1 + c * a) % ORDER)
        writer.scalar((k2 - c * blinding * a) % ORDER)


def verify_all_nonzero(transcript: Transcript, reader: ProofReader, label: str, points: Sequence[Point]) -> None:
    for i, point in enumerate(points):
        transcript.append_point(f"{label}/P{i}", point)
    c = reader.scalar(f"{label} challenge")
    responses = [
        (reader.scalar(f"{label} response {i}/1"), reader.scalar(f"{label} response {i}/2")) for i in range(len(points))
    ]
    for i, (point, (z1, z2)) in enumerate(zip(points, responses, strict=True)):
        transcript.append_point(f"{label}/A{i}", multi_exp([z1, z2, -c], [point, H, G]))
    if transcript.challenge_scalar(f"{label}/c") != c:
        raise VerificationError(f"{label}: proof that no committed value equals a stated one does not verify")
