"""Offline: the masking writer of a TTY stream (gantry shell) holds back only what could still be a secret."""

from __future__ import annotations

import io

import pytest

from gantry.output import MaskingWriter

SECRET = "canary-tty-9f31a7"


def run(chunks, values=(SECRET,)):
    out = io.StringIO()
    writer = MaskingWriter(out, values)
    shown = []
    for chunk in chunks:
        writer.write(chunk)
        shown.append(out.getvalue())
    writer.finish()
    return shown, out.getvalue()


def test_a_secret_split_across_reads_never_comes_out():
    text = f"PW={SECRET}\n/ $ "
    for i in range(len(text) + 1):  # every split of the stream into three reads
        for j in range(i, len(text) + 1):
            shown, final = run([text[:i], text[i:j], text[j:]])
            assert final == "PW=***\n/ $ ", (i, j)
            assert all(SECRET not in seen and not seen.endswith(SECRET[:8]) for seen in shown), (i, j)


@pytest.mark.parametrize("chunks, values, shown_before_finish, final", [
    (["/ $ "], (SECRET,), "/ $ ", "/ $ "),
    (["x=canary-t"], (SECRET,), "x=", "x=canary-t"),
    (["aaaaaaaaa"], ("aaaaaaaa",), "***", "***a"),
    (["a=shorty ", "short"], ("short",), "a=shorty ", "a=shorty ***"),
    (["no secrets"], (), "no secrets", "no secrets"),
], ids=["prompt-at-once", "prefix-held", "overlapping-self", "short-whole-token", "none"])
def test_only_a_possible_secret_start_is_held(chunks, values, shown_before_finish, final):
    shown, out = run(chunks, values)
    assert shown[-1] == shown_before_finish and out == final
