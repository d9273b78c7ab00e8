"""Text diffs of edited entries: removed and added lines stay apart whether or not the texts
end with a newline (`trace diff`, `show`, `diff --json`)."""

from __future__ import annotations

import json

from conftest import invoke

from trace_core.diff import NO_NEWLINE, text_diff


def test_lines_without_trailing_newline_stay_apart():
    assert text_diff("alpha beta", "alpha gamma", "#0", "#0").splitlines()[2:] == [
        "@@ -1 +1 @@", "-alpha beta", "+alpha gamma"]
    lines = text_diff("a\nb", "a\nc", "#0", "#0").splitlines()
    assert lines[-2:] == ["-b", "+c"]


def test_a_changed_final_newline_is_shown_as_git_does():
    d = text_diff("x", "x\n", "#0", "#0")
    assert d.endswith("-x\n" + NO_NEWLINE + "+x\n")
    d = text_diff("a\nb\n", "a\nc", "#0", "#0")
    assert d.endswith("-b\n+c\n" + NO_NEWLINE)
    assert NO_NEWLINE not in text_diff("a", "b", "#0", "#0")     # both lack it: no noise


def test_diff_show_and_json(rdir):
    invoke(rdir, "commit", "alpha beta", check=True)
    invoke(rdir, "commit", "--type", "edit", "--target", "0", "alpha gamma", check=True)
    out = invoke(rdir, "diff", check=True).stdout.splitlines()
    assert "    -alpha beta" in out and "    +alpha gamma" in out
    assert "    -alpha beta" in invoke(rdir, "show", check=True).stdout.splitlines()
    d = json.loads(invoke(rdir, "diff", "--json", check=True).stdout)
    assert d["changes"][0]["text_diff"].splitlines()[-2:] == ["-alpha beta", "+alpha gamma"]
    s = json.loads(invoke(rdir, "show", "--json", check=True).stdout)
    assert "-alpha beta\n+alpha gamma\n" in s["diff"]["changes"][0]["text_diff"]
