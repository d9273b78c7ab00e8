"""Tests of trace_core.config: parsing, printing, editing, schema validation."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_core.config import (
    KNOWN_KEYS,
    READ_ONLY_KEYS,
    SOURCES,
    Config,
    format_value,
    parse_bool,
    parse_duration,
    parse_int,
    parse_size,
    schema_key,
    split_key,
    update_file,
    validate_value,
)
from trace_core.errors import ConfigError, LockError

SAMPLE = """\
# Trace config
; second comment style

[core]
\tformat = 1          # set by init
\tDurability=full
[Branch "Feat/X.y"]
    max-tokens = 100k
[user]
\tname = "Ann \\"A\\" \\\\ Lee" ; who
\tflag
\tempty =
[pack]
\tjournal-max-bytes = 8m
\tjournal-max-bytes = 16M
"""


def test_round_trip_is_byte_exact():
    assert Config.parse(SAMPLE).to_text() == SAMPLE
    assert Config.parse(SAMPLE.rstrip("\n")).to_text() == SAMPLE.rstrip("\n")
    assert Config.parse("").to_text() == ""
    assert Config.parse("\n\n").to_text() == "\n\n"


def test_get_and_items():
    c = Config.parse(SAMPLE)
    assert c.get("core.format") == "1"
    assert c.get("CORE.DURABILITY") == "full"
    assert c.get("branch.Feat/X.y.max-tokens") == "100k"
    assert c.get("branch.feat/x.y.max-tokens") is None        # subsections are case-sensitive
    assert c.get("user.name") == 'Ann "A" \\ Lee'
    assert c.get("user.flag") == "true"
    assert c.get("user.empty") == ""
    assert c.get("user.missing", "d") == "d"
    assert c.get("pack.journal-max-bytes") == "16M"
    assert c.get_all("pack.journal-max-bytes") == ["8m", "16M"]
    assert c.get_all("nope.nope") == []
    assert "core.format" in c and "core.nope" not in c
    assert c.items() == [
        ("core.format", "1"), ("core.durability", "full"), ("branch.Feat/X.y.max-tokens", "100k"),
        ("user.name", 'Ann "A" \\ Lee'), ("user.flag", "true"), ("user.empty", ""),
        ("pack.journal-max-bytes", "8m"), ("pack.journal-max-bytes", "16M"),
    ]
    assert c.subsections("BRANCH") == ["Feat/X.y"]


def test_typed_getters():
    c = Config.parse(SAMPLE)
    assert c.get_int("branch.Feat/X.y.max-tokens") == 102400
    assert c.get_int("pack.journal-max-bytes") == 16 * 1024 ** 2
    assert c.get_bool("user.flag") is True
    assert c.get_int("core.missing", 7) == 7
    with pytest.raises(ConfigError, match=r"^config:6: core.durability: not an integer"):
        c.get_int("core.durability")
    with pytest.raises(ConfigError, match=r"^config:6: .*not a boolean"):
        c.get_bool("core.durability")
    assert c.get_typed("core.durability") == "full"
    assert c.get_typed("core.compression-level") == 3
    assert c.get_typed("budget.warn") == (0.8, 0.95)
    assert c.get_typed("gc.prune-expire") == 14 * 86400
    assert c.get_typed("pack.journal-max-bytes") == 16 * 1024 ** 2
    assert c.get_typed("user.flag") == "true"                    # unknown key: raw text
    assert c.get_typed("user.missing") is None
    bad = Config.parse("[core]\n\tcompression-level = 40\n")
    with pytest.raises(ConfigError, match=r"^config:2: core.compression-level must be an integer "
                                          r"from 1 to 19, got '40'$"):
        bad.get_typed("core.compression-level")


def test_budget_for_branch_overrides():
    c = Config.parse("[budget]\nmax-tokens = 1000\n[branch \"main\"]\nwarn = 0.5\n"
                     "[branch \"big\"]\nmax-tokens = 9000\n")
    assert c.budget_for(None) == (1000, (0.8, 0.95))
    assert c.budget_for("main") == (1000, (0.5,))
    assert c.budget_for("big") == (9000, (0.8, 0.95))
    assert Config().budget_for("x") == (None, (0.8, 0.95))


@pytest.mark.parametrize("text, line, fragment", [
    ("[core", 1, "malformed section header"),
    ("[core]]", 1, "malformed section header"),
    ("[ core]", 1, "malformed section header"),
    ("[core.sub]", 1, "malformed section header"),
    ("[core] key = 1", 1, "malformed section header"),
    ('[a ""]', 1, "empty subsection"),
    ('[a "x\\q"]', 1, "unknown escape"),
    ("key = 1", 1, "before any [section]"),
    ("[a]\n\n1key = 2", 3, "expected 'key = value'"),
    ("[a]\nk_ey = 2", 2, "expected 'key = value'"),
    ("[a]\nkey # c", 2, "expected 'key = value'"),
    ('[a]\nk = a"b"', 2, "quote inside an unquoted value"),
    ("[a]\nk = a\\b", 2, "backslash in an unquoted value"),
    ("[a]\nk = a\tb", 2, "tab inside an unquoted value"),
    ('[a]\nk = "abc', 2, "unterminated"),
    ('[a]\nk = "abc" x', 2, "after the closing quote"),
    ('[a]\nk = "a\\b"', 2, "unknown escape"),
    ('[a]\nk = "a\\', 2, "continuation"),
    ("[a]\r\nk = 1\r\n", 1, "CRLF"),
    ("[a]\nk = a\x00", 2, "NUL"),
    ("[a]\nk = \x1b[0m", 2, "control character U+001B"),
])
def test_errors_name_origin_and_line(text, line, fragment):
    with pytest.raises(ConfigError) as exc:
        Config.parse(text, origin=".trace/config")
    msg = str(exc.value)
    assert msg.startswith(f".trace/config:{line}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_set_edits_last_occurrence_in_place_keeping_comments():
    c = Config.parse(SAMPLE).set("core.format", 2).set("pack.journal-max-bytes", "1g")
    text = c.to_text()
    assert "\tformat = 2          # set by init\n" in text
    assert "\tjournal-max-bytes = 8m\n\tjournal-max-bytes = 1g\n" in text
    assert text.startswith("# Trace config\n; second comment style\n\n[core]\n")
    assert c.get("pack.journal-max-bytes") == "1g"
    assert c.get_all("pack.journal-max-bytes") == ["8m", "1g"]
    d = c.set("core.durability", "normal")
    assert "\tDurability = normal\n" in d.to_text()                # spelling kept
    assert Config.parse(d.to_text()).items() == d.items()


def test_set_appends_to_section_or_adds_section():
    base = Config.parse("[core]\n  a = 1\n# about user\n[user]\n\tname = x\n"
                        "[core]\n\tb = 2\n# tail\n")
    c = base.set("core.c", "3").set("llm.model", "gpt").set('branch.a"b\\c.warn', "0.5")
    assert c.to_text() == (
        "[core]\n  a = 1\n# about user\n[user]\n\tname = x\n[core]\n\tb = 2\n\tc = 3\n# tail\n"
        "[llm]\n\tmodel = gpt\n"
        '[branch "a\\"b\\\\c"]\n\twarn = 0.5\n'
    )
    reparsed = Config.parse(c.to_text())
    assert reparsed.get('branch.a"b\\c.warn') == "0.5"
    assert Config().set("user.name", "me").to_text() == "[user]\n\tname = me\n"
    # a file without a final newline gets one
    assert Config.parse("[a]\nk = 1").set("a.j", "2").to_text() == "[a]\nk = 1\nj = 2\n"
    # an empty section gets its first entry right after the header
    assert Config.parse("[a]\n# c\n[b]\n").set("a.k", "v").to_text() == "[a]\n\tk = v\n# c\n[b]\n"


def test_set_keeps_comment_spacing_for_empty_value():
    c = Config.parse("[a]\nk =# note\n").set("a.k", "v")
    assert c.to_text() == "[a]\nk = v # note\n"
    assert c.get("a.k") == "v"


def test_unset():
    c = Config.parse(SAMPLE)
    u = c.unset("pack.journal-max-bytes").unset("branch.Feat/X.y.max-tokens")
    assert u.get("pack.journal-max-bytes") is None
    assert "[pack]" not in u.to_text() and "[Branch" not in u.to_text()
    assert "[user]" in u.to_text()
    assert c.unset("no.such") is c
    keep = Config.parse("[a]\n# keep me\nk = 1\n").unset("a.k")
    assert keep.to_text() == "[a]\n# keep me\n"


def test_values_that_need_quoting():
    for value in ["", " lead", "trail ", "a#b", "a;b", 'q"q', "back\\slash", "tab\there",
                  "new\nline", "plain words", "ünïcødé"]:
        c = Config().set("s.k", value)
        assert Config.parse(c.to_text()).get("s.k") == value
    assert format_value("plain words") == "plain words"
    assert format_value("") == '""'
    assert format_value("a#b") == '"a#b"'


def test_set_refuses_bad_values_and_keys():
    for bad in ["a\x00b", "a\rb", "\x07"]:
        with pytest.raises(ConfigError):
            Config().set("a.b", bad)
    for key in ["nodot", ".a", "a.", "1a.b", "a.b_c", "a..b", "a.x\ny.b", "a.b c"]:
        with pytest.raises(ConfigError):
            Config().set(key, "v")


def test_split_key():
    assert split_key("Core.Format") == ("core", None, "format")
    assert split_key("branch.feature/v1.2.Max-Tokens") == ("branch", "feature/v1.2", "max-tokens")


def test_load_and_save(tmp_path):
    path = str(tmp_path / "config")
    assert Config.load(path).items() == []
    Config.load(path).set("core.format", "1").save(path)
    assert Path(path).read_bytes() == b"[core]\n\tformat = 1\n"
    Config.load(path).set("user.name", "Zoë").save(path, fsync=True)
    assert Config.load(path).get("user.name") == "Zoë"
    assert not os.path.exists(path + ".lock")
    with open(path, "wb") as f:
        f.write(b"[core]\n\tformat = \xff\n")
    with pytest.raises(ConfigError, match=r"config:2: not valid UTF-8"):
        Config.load(path)
    with pytest.raises(ConfigError, match="cannot read"):
        Config.load(str(tmp_path))


def test_save_refuses_while_locked(tmp_path):
    path = str(tmp_path / "config")
    open(path + ".lock", "w").close()
    with pytest.raises(LockError):
        Config().set("a.b", "c").save(path)


def test_update_file_serializes_writers(tmp_path):
    path = str(tmp_path / "config")

    def bump(c: Config) -> Config:
        return c.set("counter.n", str(int(c.get("counter.n", "0")) + 1))

    def worker() -> None:
        done = 0
        while done < 20:
            try:
                update_file(path, bump)
                done += 1
            except LockError:
                pass

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Config.load(path).get("counter.n") == "80"


def test_update_file_aborts_on_error(tmp_path):
    path = str(tmp_path / "config")
    Config().set("a.b", "1").save(path)

    def boom(c: Config) -> Config:
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        update_file(path, boom)
    assert Config.load(path).get("a.b") == "1"
    assert not os.path.exists(path + ".lock")


# -- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, normalized", [
    ("core.format", "1", "1"),
    ("core.durability", " FULL ", "full"),
    ("core.encoding", "o200k_base", "o200k_base"),
    ("core.compression-level", "19", "19"),
    ("user.name", "Ann", "Ann"),
    ("budget.max-tokens", "128k", "131072"),
    ("budget.warn", "0.95, 0.8,0.8", "0.8,0.95"),
    ("budget.warn", "1", "1.0"),
    ("branch.feature/x.max-tokens", "5000", "5000"),
    ("branch.main.warn", "0.5", "0.5"),
    ("pack.journal-max-records", "4096", "4096"),
    ("pack.journal-max-bytes", "8m", "8388608"),
    ("pack.auto-pack-limit", "0", "0"),
    ("gc.prune-expire", "2.weeks", "2.weeks"),
    ("gc.prune-expire", "NOW", "now"),
    ("llm.provider", "Anthropic", "anthropic"),
    ("llm.model", "claude", "claude"),
    ("llm.base-url", "https://api.example.com/v1", "https://api.example.com/v1"),
    ("llm.timeout", "30", "30.0"),
    ("custom.anything", " kept as is ", " kept as is "),
    ("branch.main.description", "free text", "free text"),
])
def test_validate_value_accepts(key, value, normalized):
    assert validate_value(key, value) == normalized


@pytest.mark.parametrize("key, value, message", [
    ("budget.max-tokens", "abc", "budget.max-tokens must be a positive integer, got 'abc'"),
    ("budget.max-tokens", "0", "budget.max-tokens must be a positive integer, got '0'"),
    ("core.compression-level", "0",
     "core.compression-level must be an integer from 1 to 19, got '0'"),
    ("core.durability", "fast", "core.durability must be one of normal, full, got 'fast'"),
    ("budget.warn", "0.8,1.5",
     "budget.warn must be comma-separated fractions in (0, 1], got '0.8,1.5'"),
    ("budget.warn", "0", "budget.warn must be comma-separated fractions in (0, 1], got '0'"),
    ("branch.main.max-tokens", "-5", "branch.main.max-tokens must be a positive integer, got '-5'"),
    ("pack.journal-max-bytes", "8x", "pack.journal-max-bytes must be a positive size"),
    ("gc.prune-expire", "soon", "gc.prune-expire must be a duration"),
    ("llm.provider", "acme", "llm.provider must be one of openai, anthropic, offline"),
    ("llm.base-url", "api.example.com", "llm.base-url must be an http:// or https:// URL"),
    ("llm.timeout", "-1", "llm.timeout must be a positive number of seconds"),
    ("llm.timeout", "nan", "llm.timeout must be a positive number of seconds"),
    ("user.name", "  ", "user.name must be a non-empty string"),
    ("nodot", "x", "must have the form section.key"),
    ("a.b_c", "x", "bad key name"),
    ("user.name", "a\x00b", "NUL"),
])
def test_validate_value_refuses(key, value, message):
    with pytest.raises(ConfigError) as exc:
        validate_value(key, value)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_schema_shape():
    for key, (kind, default, description, _bounds, source) in KNOWN_KEYS.items():
        assert source in SOURCES
        assert kind and description and "\n" not in description
        if default is not None and key != "branch.<name>.warn":
            assert schema_key(key.replace("<name>", "x")) == key
    assert "core.format" in READ_ONLY_KEYS
    assert schema_key("branch.main.max-tokens") == "branch.<name>.max-tokens"
    assert schema_key("BUDGET.Warn") == "budget.warn"
    assert schema_key("budget.other") is None
    assert schema_key("branch.max-tokens") is None


def test_helpers():
    assert parse_duration("now") == 0
    assert parse_duration("3600s") == 3600
    assert parse_duration("14d") == 14 * 86400
    assert parse_duration("2.weeks") == 14 * 86400
    assert parse_duration("2 weeks") == 14 * 86400
    assert parse_duration("1.day.ago") == 86400
    assert parse_duration("90m") == 5400
    for bad in ["", "2", "1.5h", "2.fortnights", "-1d", "d"]:
        with pytest.raises(ConfigError):
            parse_duration(bad)
    assert parse_size("0") == 0
    assert parse_size("8m") == 8 * 1024 ** 2
    assert parse_size("1G") == 1024 ** 3
    assert parse_size("3k") == 3072
    for bad in ["", "-1", "1.5k", "8mb", "k"]:
        with pytest.raises(ConfigError):
            parse_size(bad)
    assert parse_int("-2k") == -2048
    assert parse_bool("On") is True and parse_bool("0") is False
    with pytest.raises(ConfigError):
        parse_bool("maybe")


# -- properties --------------------------------------------------------------------------------

_CONFIG_ALPHABET = st.sampled_from(list('[]"\\=#; \t\nabcAB-.1\x00\r\x1bé'))
_KEY_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True)
_SUBSECTION = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=10)
_VALUE = st.text(st.one_of(st.sampled_from(list(' "\\#;=\t\n[]')),
                           st.characters(blacklist_categories=("Cs", "Cc"))), max_size=20)


@settings(max_examples=400)
@given(st.one_of(st.text(_CONFIG_ALPHABET, max_size=60), st.text(max_size=60)))
def test_random_text_raises_only_config_error(text):
    try:
        c = Config.parse(text)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    assert c.to_text() == text
    for key, value in c.items():
        assert c.get_all(key)[-1] == c.get(key)
        assert isinstance(value, str)
    assert Config.parse(c.to_text()).items() == c.items()


@settings(max_examples=300)
@given(st.lists(st.tuples(_KEY_NAME, st.one_of(st.none(), _SUBSECTION), _KEY_NAME, _VALUE),
                max_size=6),
       st.sampled_from(["", "# head\n[s]\n\tk = 1 ; c\n", "[x \"Y\"]\nflag\n"]))
def test_set_get_round_trip(edits, start):
    c = Config.parse(start)
    expected = dict(c.items())
    for section, sub, name, value in edits:
        key = f"{section}.{name}" if sub is None else f"{section}.{sub}.{name}"
        c = c.set(key, value)
        assert c.get(key) == value
        expected[f"{section.lower()}.{name.lower()}" if sub is None
                 else f"{section.lower()}.{sub}.{name.lower()}"] = value
    reparsed = Config.parse(c.to_text())
    assert reparsed.items() == c.items()
    assert dict(reparsed.items()) == expected
    if start:
        assert c.to_text().startswith(start.split("\n")[0])


_GIT = shutil.which("git")
_LINES = st.sampled_from([
    "[a]", '[B "x.Y"]', '[c "q\\"\\\\"]', "k = v", "K=  two  words  ",
    'k = "  q#;\\t\\n\\"\\\\ " ; c',
    "k", "k =", "k = a # c", "k = a;b", " # c", "", "\tk2 = ü", "[a] # c", 'k = "" ',
])


@pytest.mark.skipif(_GIT is None, reason="git is not installed")
@settings(max_examples=60, deadline=None)
@given(st.lists(_LINES, max_size=8),
       st.text(st.sampled_from(list('[]"\\=#; \tabk1-.é')), max_size=14))
def test_git_reads_what_we_read(tmp_path_factory, lines, extra):
    """Anything we accept, `git config --list` reads as the same entries (strict subset)."""
    text = "\n".join(lines + [extra]) + "\n"
    try:
        ours = Config.parse(text).items()
    except ConfigError:
        return
    path = tmp_path_factory.mktemp("git") / "config"
    path.write_text(text, encoding="utf-8")
    out = subprocess.run([_GIT, "config", "-f", str(path), "--list", "-z"],
                         capture_output=True, text=True, check=True)
    theirs = [tuple(e.split("\n", 1)) if "\n" in e else (e, "true")
              for e in out.stdout.split("\0") if e]
    assert theirs == ours


def test_one_schema_gives_defaults_bounds_and_never():
    from trace_core.config import NEVER, Bounds, default
    from trace_core.tokens import DEFAULT_ENCODING
    assert DEFAULT_ENCODING == default("core.encoding") == KNOWN_KEYS["core.encoding"].default
    import inspect

    from trace_core.llm.anthropic import DEFAULT_MAX_TOKENS
    from trace_core.llm.http import HTTPProvider
    assert default("llm.max-tokens") == DEFAULT_MAX_TOKENS
    params = inspect.signature(HTTPProvider.__init__).parameters
    assert params["timeout"].default == default("llm.timeout") == 60.0
    assert params["max_retries"].default == default("llm.max-retries") == 2
    assert default("gc.prune-expire") == 14 * 86400 and default("branch.x.warn") is None
    with pytest.raises(KeyError):
        default("user.other")
    assert KNOWN_KEYS["core.compression-level"].bounds == Bounds(1, 19)
    assert KNOWN_KEYS["merge.similarity"].parse("1") == ("1.0", 1.0)
    for word in ("never", "OFF", "false"):                  # what gc always took, now validated
        assert parse_duration(word) == NEVER
        assert validate_value("gc.reflog-expire", word) == word.lower()
        assert Config().set("gc.prune-expire", word).get_typed("gc.prune-expire") == NEVER
    with pytest.raises(ConfigError, match="or 'never'"):
        validate_value("gc.prune-expire", "no")
    c = Config.parse("[gc]\n\treflog-expire = soon\n", "cfg")
    with pytest.raises(ConfigError, match=r"^cfg:2: gc.reflog-expire must be a duration"):
        c.get_typed("gc.reflog-expire")


def test_add_unset_value_and_from_items():
    c = Config.parse("[safe]\n  directory = /a\n[core]\n\tx = 1\n")
    c2 = c.add("safe.directory", "/b").add("safe.directory", "/c d")
    assert c2.get_all("safe.directory") == ["/a", "/b", "/c d"]
    assert c2.to_text() == '[safe]\n  directory = /a\n  directory = /b\n  directory = /c d\n' \
        "[core]\n\tx = 1\n"
    assert c2.unset_value("safe.directory", "/b").get_all("safe.directory") == ["/a", "/c d"]
    assert c2.unset_value("safe.directory", "/zz") is c2
    gone = c.unset_value("safe.directory", "/a")
    assert gone.to_text() == "[core]\n\tx = 1\n"
    assert Config().add("llm.model", "m").to_text() == "[llm]\n\tmodel = m\n"
    f = Config.from_items([("safe.directory", "/x"), ("safe.directory", "/y"),
                           ("budget.max-tokens", "1k")], origin="flags")
    assert f.origin == "flags" and f.get_all("safe.directory") == ["/x", "/y"]
    assert f.get("budget.max-tokens") == "1024"
    with pytest.raises(ConfigError, match="budget.max-tokens must be"):
        Config.from_items([("budget.max-tokens", "lots")])


def test_sources_of_the_sensitive_keys():
    from trace_core.config import ANYWHERE, REPO_ONLY, TRUSTED, USER_ONLY, key_source
    assert key_source("llm.provider") == key_source("llm.base-url") == TRUSTED
    assert key_source("llm.api-key-env") == key_source("safe.directory") == USER_ONLY
    assert key_source("core.encoding") == key_source("core.format") == REPO_ONLY
    assert key_source("llm.model") == key_source("no.such-key") == ANYWHERE
