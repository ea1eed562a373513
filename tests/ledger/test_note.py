"""C2SP signed-note against Go's golang.org/x/mod/sumdb/note tests and the c2sp.org/signed-note examples.

The PeterNeumann and EnochRoot keys and notes are the published ones of Go's note_test.go; the
sum.golang.org notes are real signed tree heads of Go's checksum database, under its published key.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import (
    NoteError,
    add_signature,
    ed25519_verifier_key,
    generate_signer_key,
    note_key_id,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    verifier_key_from_signer,
    verify_note,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# c2sp.org/signed-note: the example note (its key is not published).
QUASIMODO = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"


def sumdb_note(size: str, root: str, signature: str) -> str:
    return f"go.sum database tree\n{size}\n{root}\n\n— sum.golang.org {signature}\n"


# Signed tree heads served by sum.golang.org, as quoted in public documentation and tests.
SUMDB_NOTES = [
    sumdb_note(
        "445646",
        "jEFFy4AtYgBBNTSZTiNnQrgQqMbcH0mfO2oP2FxR9VU=",
        "Az3grkGho/PqvUmEuTv6+r2g303hUhu60FOD6vLpm19mBwH9UjquWY2OKxNmZ55z0gHrp24AgPC3Q5WO7uZrVdvdCQU=",
    ),
    sumdb_note(
        "3784599",
        "7uvxIZ67TZygcq/AehTD8iHYt81Ih+Zl2Y7vXZbfszQ=",
        "Az3grn972wXskjQrsZhVGc93fTU2uOsmSTiId1Wn1lxDCup5z4ggl1/4gaUqOkMa6cMbYvjB7hn7yemNr7Zqanol/go=",
    ),
    sumdb_note(
        "15368405",
        "/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=",
        "Az3grqJGUaSGukG9p8nI2vKgiFn7qGHxn0W+mrwyI6Gz3F0t1J3LzmWk/p96Ybf295EjwdSwlzgijq5WA9d1Ded7owM=",
    ),
    sumdb_note(
        "63512409",
        "F7eHRPqN/cqPtqti14NKdGGaI1Giw8coWP3KxihFZbg=",
        "Az3gri1OBHKT87Xj8UXU8zjoHGy/X+7Nl94f8TZkELVaasolmGApUsWqwVG9vE6hgqYb/ph/w2vdkLIVRH7bMB/FPQ4=",
    ),
    sumdb_note(
        "65209736",
        "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
        "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=",
    ),
]


def line_of(sig_line: str, insert: str = "ABCD", at: int = 60) -> str:
    return sig_line[:at] + insert + sig_line[at:]


# --- keys (Go TestNewVerifier, TestNewSigner, TestGenerateKey) ----------------------------------


def test_go_verifier_key_parses_with_its_name_and_id() -> None:
    key = parse_verifier_key(PETER_VKEY)
    assert (key.name, key.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert key.encode() == PETER_VKEY
    assert note_key_id("PeterNeumann", key.public_key) == 0xC74F20A3


def test_key_id_is_sha256_of_name_newline_0x01_and_public_key() -> None:
    key = parse_verifier_key(ENOCH_VKEY)
    digest = hashlib.sha256(b"EnochRoot\n\x01" + key.public_key).digest()
    assert key.key_id == int.from_bytes(digest[:4], "big") == 0xAF0CFE78


def test_a_verifier_key_whose_base64_contains_plus_signs_parses() -> None:
    assert parse_verifier_key(SUMDB_VKEY).name == "sum.golang.org"


def test_every_proper_substring_of_a_verifier_key_is_rejected() -> None:
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(PETER_VKEY[i:j])


def test_every_single_byte_increment_of_a_verifier_key_is_rejected() -> None:
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)


def test_wrong_length_key_and_unknown_algorithm_are_rejected_even_with_a_matching_id() -> None:
    # Go's vectors; the first is also non-canonical base64, which we refuse before its length.
    with pytest.raises(NoteError, match="not canonical base64"):
        parse_verifier_key("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(NoteError, match="unknown signature algorithm 0x65"):
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    long_key = parse_verifier_key(PETER_VKEY).public_key + b"\x00"
    key_id = note_key_id("PeterNeumann", long_key)
    encoded = base64.b64encode(b"\x01" + long_key).decode()
    with pytest.raises(NoteError, match="Ed25519 key is 33 bytes, expected 32"):
        parse_verifier_key(f"PeterNeumann+{key_id:08x}+{encoded}")


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann", "expected name\\+keyid\\+base64key"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "invalid key name ''"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not 8 lowercase hex digits"),
        ("PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not 8 lowercase hex digits"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not valid base64"),
        ("PeterNeumann+c74f20a3+", "key is empty"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match name and key"),
        ("PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match name and key"),
    ],
)
def test_verifier_key_errors_say_what_is_wrong(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_verifier_key(vkey)


def test_go_signer_key_parses_and_derives_the_published_verifier_key() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert (signer.name, signer.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert verifier_key_from_signer(PETER_SKEY) == PETER_VKEY
    assert "AYEKFALV" not in repr(signer) and signer.seed.hex() not in repr(signer)


def test_every_proper_substring_and_byte_increment_of_a_signer_key_is_rejected() -> None:
    for i in range(len(PETER_SKEY) + 1):
        for j in range(i + 1, len(PETER_SKEY) + 1):
            if (i, j) != (0, len(PETER_SKEY)):
                with pytest.raises(NoteError):
                    parse_signer_key(PETER_SKEY[i:j])
    for i in range(len(PETER_SKEY)):
        with pytest.raises(NoteError):
            parse_signer_key(PETER_SKEY[:i] + chr(ord(PETER_SKEY[i]) + 1) + PETER_SKEY[i + 1 :])


def test_signer_key_errors_never_echo_the_secret() -> None:
    secret = PETER_SKEY.rsplit("+", 1)[1][:-1]
    for bad in (PETER_SKEY[:-1], PETER_SKEY.replace("c74f20a3", "c74f20a4"), PETER_SKEY[8:]):
        with pytest.raises(NoteError) as excinfo:
            parse_signer_key(bad)
        assert secret[:12] not in str(excinfo.value)


def test_a_verifier_key_is_not_a_signer_key() -> None:
    with pytest.raises(NoteError, match=r"must start with PRIVATE\+KEY\+"):
        parse_signer_key(PETER_VKEY)


def test_generated_keys_are_self_consistent_and_sign_what_they_verify() -> None:
    skey, vkey = generate_signer_key("EnochRoot")
    assert skey.startswith("PRIVATE+KEY+EnochRoot+")
    assert verifier_key_from_signer(skey) == vkey
    assert parse_signer_key(skey).key_id == parse_verifier_key(vkey).key_id
    assert verify_note(sign_note("hi\n", skey), [vkey]) == "hi\n"
    assert generate_signer_key("EnochRoot") != (skey, vkey)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "a\u2003b", "tab\tname", "a\nb"])
def test_key_names_must_be_non_empty_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(NoteError, match="invalid key name"):
        generate_signer_key(name)


def test_ed25519_verifier_key_from_a_raw_public_key() -> None:
    public_key = parse_verifier_key(PETER_VKEY).public_key
    assert ed25519_verifier_key("PeterNeumann", public_key) == PETER_VKEY
    with pytest.raises(NoteError, match="31 bytes, expected 32"):
        ed25519_verifier_key("PeterNeumann", public_key[:31])


# --- signing (Go TestSign) ----------------------------------------------------------------------


def test_our_signature_is_byte_identical_to_gos() -> None:
    assert sign_note(TEXT, PETER_SKEY) == TEXT + "\n" + PETER_SIG


def test_adding_a_signature_replaces_the_one_by_the_same_key() -> None:
    bad = base64.b64encode(bytes.fromhex("c74f20a3") + b"BADSIGN").decode()
    assert add_signature(f"{TEXT}\n— PeterNeumann {bad}\n", PETER_SKEY) == TEXT + "\n" + PETER_SIG


def test_adding_a_signature_keeps_the_others_first() -> None:
    assert add_signature(TEXT + "\n" + ENOCH_SIG, PETER_SKEY) == TEXT + "\n" + ENOCH_SIG + PETER_SIG
    both = add_signature(TEXT + "\n" + ENOCH_SIG, PETER_SKEY)
    assert verify_note(both, [PETER_VKEY, ENOCH_VKEY]) == TEXT


def test_cosigning_the_c2sp_example_keeps_its_signature_and_its_inner_blank_line() -> None:
    skey, vkey = generate_signer_key("consentry.example/witness")
    cosigned = add_signature(QUASIMODO, skey)
    assert cosigned.startswith(QUASIMODO)
    assert verify_note(cosigned, [vkey]) == QUASIMODO[: QUASIMODO.rindex("\n\n") + 1]
    assert verify_note(cosigned, [vkey]).endswith(":\n\ned è subito sera.\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "must end with a newline"),
        ("", "must end with a newline"),
        ("bell\x07\n", "control character"),
        ("cr\r\n", "control character"),
        ("\ud800\n", "not valid UTF-8"),
    ],
)
def test_signing_refuses_text_that_could_not_be_verified(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        sign_note(text, PETER_SKEY)


def test_signing_refuses_a_note_past_the_signature_limit() -> None:
    many = TEXT + "\n" + "".join(line_of(ENOCH_SIG, f"{i:04d}", 30) for i in range(100))
    with pytest.raises(NoteError, match="exceeds the limit of 100"):
        add_signature(many, PETER_SKEY)


# --- verifying (Go TestOpen; c2sp.org/signed-note §Signatures) ----------------------------------


def test_go_signed_note_verifies_and_unknown_signatures_are_ignored() -> None:
    assert verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY]) == TEXT
    assert verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY]) == TEXT
    assert verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [ENOCH_VKEY]) == TEXT


def test_a_note_with_no_known_signer_is_rejected_and_names_its_signers() -> None:
    with pytest.raises(NoteError, match=r"no verifiable signatures.*EnochRoot\+af0cfe78, PeterNeumann\+c74f20a3"):
        verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_the_c2sp_example_parses_but_its_key_is_unknown() -> None:
    with pytest.raises(NoteError, match=r"quasimodo.example/salvatore\+367ba04b; none is a known key"):
        verify_note(QUASIMODO, [PETER_VKEY])


def test_sharing_only_the_name_or_only_the_id_of_a_known_key_is_not_that_key() -> None:
    raw = base64.b64decode(PETER_SIG.split()[2])
    other_id = base64.b64encode(b"\x00\x00\x00\x00" + raw[4:]).decode()
    with pytest.raises(NoteError, match="no verifiable signatures"):
        verify_note(f"{TEXT}\n— PeterNeumann {other_id}\n", [PETER_VKEY])
    with pytest.raises(NoteError, match="no verifiable signatures"):
        verify_note(TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), [PETER_VKEY])
    wrong_hash = PETER_SIG.replace("x08g", "xxxx")
    with pytest.raises(NoteError, match="no verifiable signatures"):
        verify_note(TEXT + "\n" + wrong_hash, [PETER_VKEY])


def test_an_invalid_signature_by_a_known_key_rejects_the_whole_note() -> None:
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        verify_note(TEXT + "\n" + line_of(PETER_SIG), [PETER_VKEY])
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        verify_note(TEXT + "\n" + ENOCH_SIG + line_of(PETER_SIG), [PETER_VKEY, ENOCH_VKEY])


def test_repeated_signatures_are_accepted_and_a_bad_repeat_by_a_known_key_is_not() -> None:
    # Go TestOpen "duplicated verified and unverified signatures": the unknown repeats are ignored.
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + line_of(ENOCH_SIG)
    assert verify_note(note, [PETER_VKEY]) == TEXT
    # Stricter than Go, which checks only the first signature per key: every known signature must hold.
    with pytest.raises(NoteError, match=r"invalid signature for key EnochRoot\+af0cfe78"):
        verify_note(note, [PETER_VKEY, ENOCH_VKEY])


def test_identical_verifier_keys_collapse_and_conflicting_ones_are_refused() -> None:
    assert verify_note(TEXT + "\n" + ENOCH_SIG, [ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY]) == TEXT
    # Two keys with one name and one 32-bit ID: a birthday search finds such a pair in ~2^16 tries.
    seen: dict[int, bytes] = {}
    for counter in range(1 << 20):
        candidate = hashlib.sha256(counter.to_bytes(8, "big")).digest()
        other = seen.setdefault(note_key_id("EnochRoot", candidate), candidate)
        if other != candidate:
            break
    pair = [ed25519_verifier_key("EnochRoot", other), ed25519_verifier_key("EnochRoot", candidate)]
    assert pair[0].split("+")[1] == pair[1].split("+")[1]
    with pytest.raises(NoteError, match=r"ambiguous verifier keys: two different keys are named EnochRoot\+"):
        verify_note(TEXT + "\n" + PETER_SIG, [PETER_VKEY, *pair])


def test_more_than_100_signatures_is_malformed() -> None:
    with pytest.raises(NoteError, match="101 signature lines, more than the limit of 100"):
        verify_note(TEXT + "\n" + PETER_SIG * 101, [PETER_VKEY])
    assert verify_note(TEXT + "\n" + PETER_SIG * 100, [PETER_VKEY]) == TEXT


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (TEXT, "no blank line"),
        (TEXT + "\n", "no signature lines"),
        (TEXT + "\n" + PETER_SIG[:-1], "does not end with a newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character"),
        (b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), "not valid UTF-8"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1], "does not end with a newline"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"), "base64"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "line 2 does not start with an em dash"),
        (TEXT + "\n" + PETER_SIG.replace("—", "-"), "em dash"),
        (TEXT + "\n" + PETER_SIG.replace("— ", "—\u00a0"), "em dash"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"), "invalid key name"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\u00a0Neumann"), "invalid key name"),
        (TEXT + "\n" + "— PeterNeumann \n", "not valid base64|too short"),
        (TEXT + "\n" + "— PeterNeumann x08g\n", "too short"),
        (TEXT + "\n" + PETER_SIG.replace("AM=", "AN="), "not canonical base64"),
        (TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"), "control character"),
    ],
)
def test_malformed_notes_are_refused_with_the_broken_rule(note: str | bytes, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        verify_note(note, [PETER_VKEY])


def test_verifier_keys_must_be_a_list_not_one_string() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        verify_note(TEXT + "\n" + PETER_SIG, PETER_VKEY)


def test_a_malformed_verifier_key_is_an_error_not_an_unknown_key() -> None:
    with pytest.raises(NoteError, match="verifier key"):
        verify_note(TEXT + "\n" + PETER_SIG, [PETER_VKEY[:-2]])


@pytest.mark.parametrize("note", SUMDB_NOTES)
def test_real_sum_golang_org_tree_heads_verify(note: str) -> None:
    assert verify_note(note, [SUMDB_VKEY]).startswith("go.sum database tree\n")
    assert verify_note(note.encode("utf-8"), [SUMDB_VKEY]) == note[: note.index("\n\n") + 1]


def test_a_real_tree_head_with_a_changed_size_is_rejected() -> None:
    forged = SUMDB_NOTES[0].replace("\n445646\n", "\n445647\n")
    with pytest.raises(NoteError, match=r"invalid signature for key sum.golang.org\+033de0ae"):
        verify_note(forged, [SUMDB_VKEY])


# --- properties ---------------------------------------------------------------------------------

note_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=[chr(c) for c in range(0x20) if c != 10]),
    max_size=200,
).map(lambda s: s + "\n")

key_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Zs", "Zl", "Zp", "Cc"], exclude_characters="+"),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c.isspace() for c in s))

_PETER_NOTE = TEXT + "\n" + PETER_SIG


@given(note_texts)
def test_any_text_ending_in_newline_round_trips(text: str) -> None:
    assert verify_note(sign_note(text, PETER_SKEY), [PETER_VKEY]) == text


@given(key_names)
def test_any_valid_name_can_sign(name: str) -> None:
    skey, vkey = generate_signer_key(name)
    assert verify_note(sign_note("x\n", skey), [vkey]) == "x\n"


@given(key_names, st.sampled_from([" ", "+", "\u00a0", "\u3000", "\t", "\u2028"]), st.data())
def test_a_space_or_plus_anywhere_in_a_name_is_refused(name: str, bad: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(name)))
    with pytest.raises(NoteError, match="invalid key name"):
        generate_signer_key(name[:at] + bad + name[at:])


@given(st.integers(0, len(_PETER_NOTE) - 1), st.characters(codec="utf-8"))
def test_any_single_character_change_is_rejected(position: int, replacement: str) -> None:
    mangled = _PETER_NOTE[:position] + replacement + _PETER_NOTE[position + 1 :]
    if mangled != _PETER_NOTE:
        with pytest.raises(NoteError):
            verify_note(mangled, [PETER_VKEY])
