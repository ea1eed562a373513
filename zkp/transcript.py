"""The Fiat–Shamir transcript: every challenge is a hash of everything that came before it.

Weak Fiat–Shamir ("Frozen Heart") lets a prover pick the statement after the challenge; this transcript
rules that out by absorbing, with unambiguous length prefixes, the protocol tag and version, the group
and its generators, the complete statement and the verifier's context *before* any prover message, and
each prover message before the challenge that depends on it. Challenges are SHA-512 outputs reduced
modulo the group order (bias below 2^-256) and are themselves absorbed, so later challenges depend on
earlier ones. Prover and verifier run the same code; the verifier never takes a challenge from the proof.
"""

from __future__ import annotations

import hashlib

from zkp.group import CURVE_NAME, ORDER, G, H, Point, scalar_to_bytes

PROTOCOL_TAG = b"consentry/zkp"
PROTOCOL_VERSION = 1


class Transcript:
    """A running SHA-512 over length-prefixed (label, message) pairs."""

    def __init__(self, protocol: str) -> None:
        self._hash = hashlib.sha512()
        self.append_message("domain", PROTOCOL_TAG)
        self.append_message("version", PROTOCOL_VERSION.to_bytes(4, "big"))
        self.append_message("protocol", protocol.encode())
        self.append_message("group", CURVE_NAME.encode())
        self.append_point("G", G)
        self.append_point("H", H)

    def append_message(self, label: str, message: bytes) -> None:
        encoded_label = label.encode()
        self._hash.update(len(encoded_label).to_bytes(4, "big") + encoded_label)
        self._hash.update(len(message).to_bytes(8, "big") + message)

    def append_point(self, label: str, point: Point) -> None:
        self.append_message(label, point.to_bytes())

    def append_scalar(self, label: str, scalar: int) -> None:
        self.append_message(label, scalar_to_bytes(scalar))

    def append_int(self, label: str, value: int) -> None:
        """Absorb a non-negative integer operand (bounds, widths, counts) in a fixed-width-free encoding."""
        if value < 0:
            raise ValueError("transcript integers are non-negative")
        self.append_message(label, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))

    def challenge_scalar(self, label: str) -> int:
        """Derive a non-zero challenge, then absorb it so the next challenge depends on this one."""
        fork = self._hash.copy()
        encoded_label = label.encode()
        fork.update(b"challenge" + len(encoded_label).to_bytes(4, "big") + encoded_label)
        value = int.from_bytes(fork.digest(), "big") % ORDER
        if value == 0:  # probability 2^-256; a zero challenge would break inverses in Bulletproofs
            raise ArithmeticError("transcript produced a zero challenge")
        self.append_scalar(label, value)
        return value
