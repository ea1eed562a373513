"""C2SP tlog-checkpoint against the spec's example, Go's sumdb tree format and real signed checkpoints.

Sources: c2sp.org/tlog-checkpoint (the behind-the-sofa example), golang.org/x/mod/sumdb/tlog
note_test.go (FormatTree/ParseTree), transparency-dev/formats log/checkpoint_test.go and
log/note_test.go (its published test keys and a sum.golang.org checkpoint cosigned by three keys).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import (
    EMPTY_ROOT,
    Checkpoint,
    CheckpointError,
    NoteError,
    add_signature,
    generate_signer_key,
    leaf_hash,
    sign_checkpoint,
    verifier_key_from_signer,
    verify_checkpoint,
)

SPEC_EXAMPLE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

GO_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)
# transparency-dev/formats log/note_test.go BenchmarkParse: three cosigners of SUMDB_CHECKPOINT, two impostors.
COSIGNERS = {
    "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT": (
        "— monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2NbvAnaepM6Y+8ww=\n"
    ),
    "bananas+cf639f13+AaPjhFnPCQnid/Ql32KWhmh+uk72FVRfK+2DLmO3BI3M": (
        "— bananas z2OfE+2bbsBZ7NLgfuslc0v7NFW2QyexJ7fhePpoL2N/P7N/COd5S+JNHbQEAlYzz2C5sg0E+x/MggS1mDR6t3/9rQw=\n"
    ),
    "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN": (
        "— witness 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=\n"
    ),
}
IMPOSTORS = (
    "— random1 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=\n"
    "— random2 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=\n"
)
# transparency-dev/formats log/note_test.go: published test key pairs.
TEST_KEY_PAIRS = [
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
]
LOG_SKEY, LOG_VKEY = TEST_KEY_PAIRS[0]
ROOT = bytes(range(32))


# --- the body (c2sp.org/tlog-checkpoint §Note text) ---------------------------------------------


def test_spec_example_body_parses_to_origin_size_and_root() -> None:
    text = SPEC_EXAMPLE[: SPEC_EXAMPLE.index("\n\n") + 1]
    cp = Checkpoint.parse(text)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.format() == text


def test_spec_example_without_its_log_key_is_not_trusted() -> None:
    with pytest.raises(NoteError, match=r"no verifiable signatures.*example.com/behind-the-sofa\+"):
        verify_checkpoint(SPEC_EXAMPLE, [LOG_VKEY])


def test_go_format_tree_golden() -> None:
    # sumdb/tlog TestFormatTree: the root is RecordHash("hello world"), i.e. the RFC 9162 leaf hash.
    cp = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert cp.format() == GO_TREE
    assert Checkpoint.parse(GO_TREE) == cp


def test_transparency_dev_marshal_golden_with_a_32_byte_root() -> None:
    assert Checkpoint("Log", 123, ROOT).format() == f"Log\n123\n{base64.b64encode(ROOT).decode()}\n"


def test_extension_lines_round_trip() -> None:
    text = GO_TREE + "6086d1a9\nWaxing gibbous\n"
    cp = Checkpoint.parse(text)
    assert cp.extensions == ("6086d1a9", "Waxing gibbous")
    assert cp.format() == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Head\n9944\n", "2 line\\(s\\)"),
        ("", "must end with a newline"),
        ("\n", "1 line"),
        ("Log\n123\nYmFuYW5hcw==", "must end with a newline"),
        (GO_TREE + "JOE", "must end with a newline"),
        ("\n9944\n" + GO_TREE.split("\n")[2] + "\n", "origin \\(line 1\\) is empty"),
        ("Log\nbananas\n" + GO_TREE.split("\n")[2] + "\n", "not a decimal number"),
        ("Log\n-34\n" + GO_TREE.split("\n")[2] + "\n", "not a decimal number"),
        ("Log\n+34\n" + GO_TREE.split("\n")[2] + "\n", "not a decimal number"),
        ("Log\n0xabcdef\n" + GO_TREE.split("\n")[2] + "\n", "not a decimal number"),
        ("Log\n007\n" + GO_TREE.split("\n")[2] + "\n", "without leading zeros"),
        ("Log\n 7\n" + GO_TREE.split("\n")[2] + "\n", "not a decimal number"),
        ("Log\n\u0667\n" + GO_TREE.split("\n")[2] + "\n", "not a decimal number"),
        ("Log\n3438945738945739845734895735\n" + GO_TREE.split("\n")[2] + "\n", "larger than 2\\*\\*63-1"),
        ("Log\n9223372036854775808\n" + GO_TREE.split("\n")[2] + "\n", "larger than 2\\*\\*63-1"),
        ("Log\n123\nThisIsn'tBase64\n", "not valid base64"),
        ("go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n", "base64"),
        ("Log\n123\nYmFuYW5hcw==\n", "7 bytes, expected 32"),
        ("Log\n123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=\n", "not canonical base64"),
        ("Log\n123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0\n", "not valid base64"),
        ("Log\n123\n\n", "not valid base64|32"),
        (GO_TREE + "\n", "extension line 4 is empty"),
        (GO_TREE + "ext\n\n\n", "extension line 5 is empty"),
        (GO_TREE + "tab\there\n", "extension line 4 contains a newline or control character"),
        ("Lo\rg\n123\n" + GO_TREE.split("\n")[2] + "\n", "origin \\(line 1\\) contains"),
        ("Log\n0\n" + GO_TREE.split("\n")[2] + "\n", "size 0 must carry the empty-tree hash"),
    ],
)
def test_malformed_bodies_are_refused_with_the_broken_rule(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.parse(text)


def test_the_empty_tree_checkpoint() -> None:
    cp = Checkpoint("example.com/log", 0, EMPTY_ROOT)
    assert cp.format() == "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert Checkpoint.parse(cp.format()) == cp


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": ""}, "origin is empty"),
        ({"origin": "two\nlines"}, "origin contains a newline"),
        ({"size": -1}, "outside 0..2\\*\\*63-1"),
        ({"size": 1 << 63}, "outside 0..2\\*\\*63-1"),
        ({"size": True}, "must be an int, not bool"),
        ({"size": "5"}, "must be an int, not str"),
        ({"root": ROOT[:31]}, "must be 32 bytes, got 31"),
        ({"root": ROOT.hex()}, "must be 32 bytes, got str"),
        ({"extensions": ("",)}, "extension line 1 is empty"),
        ({"extensions": ("a\nb",)}, "extension line 1 contains a newline"),
        ({"extensions": ["a"]}, "must be a tuple"),
        ({"size": 0}, "size 0 must carry the empty-tree hash"),
    ],
)
def test_a_checkpoint_that_cannot_be_formatted_canonically_cannot_be_built(
    kwargs: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"origin": "example.com/log", "size": 5, "root": ROOT, **kwargs}
    with pytest.raises(CheckpointError, match=message):
        Checkpoint(**fields)  # type: ignore[arg-type]


def test_checkpoint_error_is_a_note_error_and_a_value_error() -> None:
    assert issubclass(CheckpointError, NoteError)
    assert issubclass(CheckpointError, ValueError)


# --- signed checkpoints (c2sp.org/tlog-checkpoint §Signatures) ----------------------------------


def test_published_test_key_pairs_match() -> None:
    for skey, vkey in TEST_KEY_PAIRS:
        assert verifier_key_from_signer(skey) == vkey


def test_real_sumdb_checkpoint_verifies_with_its_origin() -> None:
    cp = verify_checkpoint(SUMDB_CHECKPOINT, [SUMDB_VKEY], origin="go.sum database tree")
    assert (cp.origin, cp.size) == ("go.sum database tree", 6476701)
    assert cp.root == base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")


def test_a_checkpoint_of_another_log_is_refused() -> None:
    with pytest.raises(CheckpointError, match=r"origin 'go\.sum database tree' is not the expected 'Go rocks'"):
        verify_checkpoint(SUMDB_CHECKPOINT, [SUMDB_VKEY], origin="Go rocks")


def test_real_cosigned_checkpoint_verifies_under_each_cosigner_and_ignores_impostors() -> None:
    cosigned = SUMDB_CHECKPOINT + "".join(COSIGNERS.values()) + IMPOSTORS
    for vkey in [SUMDB_VKEY, *COSIGNERS]:
        assert verify_checkpoint(cosigned, [vkey]).size == 6476701
    assert verify_checkpoint(cosigned, [SUMDB_VKEY, *COSIGNERS], origin="go.sum database tree").size == 6476701
    with pytest.raises(NoteError, match="no verifiable signatures"):
        verify_checkpoint(SUMDB_CHECKPOINT + IMPOSTORS, [*COSIGNERS][:1])


def test_sign_and_verify_round_trip_with_the_published_log_key() -> None:
    cp = Checkpoint("Log", 42, ROOT)
    signed = sign_checkpoint(cp, LOG_SKEY)
    assert signed.startswith(cp.format() + "\n— Log ")
    assert verify_checkpoint(signed, [LOG_VKEY], origin="Log") == cp


def test_the_log_signs_under_its_origin_name_only() -> None:
    with pytest.raises(CheckpointError, match="signer key name 'Known' is not the checkpoint origin 'Log'"):
        sign_checkpoint(Checkpoint("Log", 42, ROOT), TEST_KEY_PAIRS[1][0])


def test_witness_cosignatures_verify_and_unknown_ones_are_ignored() -> None:
    # transparency-dev/formats TestParseCheckpoint: log, known witnesses and an unknown cosigner.
    signed = sign_checkpoint(Checkpoint("Log", 42, ROOT), LOG_SKEY)
    for skey, _ in TEST_KEY_PAIRS[1:]:
        signed = add_signature(signed, skey)
    vkeys = [vkey for _, vkey in TEST_KEY_PAIRS[:3]]
    assert verify_checkpoint(signed, vkeys, origin="Log").size == 42
    assert verify_checkpoint(signed, vkeys[1:], origin="Log").size == 42


def test_a_validly_signed_non_checkpoint_is_refused() -> None:
    from ledger import sign_note

    signed = sign_note("if this is a valid checkpoint then I'll eat my hat\n", LOG_SKEY)
    with pytest.raises(CheckpointError, match="1 line"):
        verify_checkpoint(signed, [LOG_VKEY])


def test_a_changed_size_or_root_breaks_the_signature() -> None:
    signed = sign_checkpoint(Checkpoint("Log", 42, ROOT), LOG_SKEY)
    with pytest.raises(NoteError, match=r"invalid signature for key Log\+2271c621"):
        verify_checkpoint(signed.replace("\n42\n", "\n43\n"), [LOG_VKEY])
    b64 = base64.b64encode(ROOT).decode()
    other = base64.b64encode(bytes(32)).decode()
    with pytest.raises(NoteError, match=r"invalid signature for key Log\+2271c621"):
        verify_checkpoint(signed.replace(b64, other), [LOG_VKEY])


# --- properties ---------------------------------------------------------------------------------

lines = st.text(alphabet=st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=40)


@st.composite
def checkpoints(draw: st.DrawFn) -> Checkpoint:
    size = draw(st.integers(0, (1 << 63) - 1))
    root = EMPTY_ROOT if size == 0 else draw(st.binary(min_size=32, max_size=32))
    return Checkpoint(draw(lines), size, root, tuple(draw(st.lists(lines, max_size=3))))


@given(checkpoints())
def test_format_then_parse_is_the_identity(cp: Checkpoint) -> None:
    assert Checkpoint.parse(cp.format()) == cp


@given(checkpoints())
def test_parse_then_format_is_the_identity(cp: Checkpoint) -> None:
    text = cp.format()
    assert Checkpoint.parse(text).format() == text


@given(checkpoints())
def test_signed_checkpoints_verify(cp: Checkpoint) -> None:
    name = "example.com/log"
    skey, vkey = generate_signer_key(name)
    cp = Checkpoint(name, cp.size, cp.root, cp.extensions)
    assert verify_checkpoint(sign_checkpoint(cp, skey), [vkey], origin=name) == cp


@given(st.text(max_size=120))
def test_parse_accepts_only_what_it_would_format(text: str) -> None:
    try:
        cp = Checkpoint.parse(text)
    except CheckpointError:
        return
    assert cp.format() == text
