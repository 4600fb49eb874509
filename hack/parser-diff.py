#!/usr/bin/env python3
"""Differential testing of hoist's Dockerfile parser against BuildKit's.

BuildKit's own parser is on PyPI as the package `dockerfile` (a binding of
the Go parser; version 3.4.0 wraps BuildKit v0.12.5). This script dumps its
parse of every corpus file to a golden JSON file next to it; the Rust test
`builder/tests/parser_differential.rs` compares hoist's syntax tree with those
goldens, so `cargo test` needs no Python.

    pip install dockerfile==3.4.0
    hack/parser-diff.py generate   # (re)write the generated variations gen-*.Dockerfile
    hack/parser-diff.py write      # (re)write every *.expected.json from BuildKit
    hack/parser-diff.py check      # exit 1 if a golden or a generated file is stale (CI)
    hack/parser-diff.py fuzz --count 2000 --corpus /tmp/df-fuzz
        # random files + goldens in a scratch directory, then:
        # HOIST_PARSER_CORPUS=/tmp/df-fuzz cargo test -p hoist --test parser_differential

A golden holds what the Python package exposes of each instruction: cmd,
sub_cmd, json, original, start_line, end_line, flags, value and heredocs
(name, file descriptor, content). When BuildKit accepts a file that names an
instruction it doesn't know (its parser defers that error to a later stage),
the golden records it under `unknown_instruction`, and hoist must reject the
file at that line.
"""

import argparse
import json
import os
import random
import re
import sys
from importlib import metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "builder", "tests", "corpus")
SUFFIX = ".Dockerfile"
GOLDEN = ".expected.json"
KEYWORDS = {
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from",
    "healthcheck", "label", "maintainer", "onbuild", "run", "shell",
    "stopsignal", "user", "volume", "workdir",
}


def reference():
    try:
        import dockerfile  # noqa: F401
    except ImportError:
        sys.exit("parser-diff: the `dockerfile` package is missing: pip install dockerfile==3.4.0")
    return "BuildKit v0.12.5 parser, PyPI dockerfile " + metadata.version("dockerfile")


def dump(path):
    """BuildKit's parse of one file, as the golden JSON object."""
    import dockerfile

    out = {"reference": reference()}
    try:
        commands = dockerfile.parse_file(path)
    except dockerfile.GoParseError as e:
        out["ok"] = False
        out["error"] = str(e)
        return out
    out["ok"] = True
    out["commands"] = []
    unknown = None
    for c in commands:
        out["commands"].append({
            "cmd": c.cmd,
            "sub_cmd": c.sub_cmd,
            "json": c.json,
            "original": c.original,
            "start_line": c.start_line,
            "end_line": c.end_line,
            "flags": list(c.flags),
            "value": list(c.value),
            "heredocs": [
                {"name": h.name, "file_descriptor": h.file_descriptor, "content": h.content}
                for h in c.heredocs
            ],
        })
        # An empty instruction (a lone escape character on the last line)
        # comes back with cmd None; BuildKit rejects it later as unknown.
        words = [c.cmd or ""] + ([c.sub_cmd] if c.sub_cmd is not None else [])
        for word in words:
            if unknown is None and word.lower() not in KEYWORDS:
                unknown = {"line": c.start_line, "end_line": c.end_line, "name": word}
    if unknown is not None:
        out["unknown_instruction"] = unknown
    return out


def render(obj):
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def corpus_files():
    return sorted(n for n in os.listdir(CORPUS) if n.endswith(SUFFIX))


# ---- random files (fuzz) ------------------------------------------------------

FRAGMENTS = [
    "FROM", "from", "RUN", "run", "COPY", "ADD", "ENV", "LABEL", "ARG", "CMD", "ENTRYPOINT",
    "SHELL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME", "USER", "WORKDIR", "STOPSIGNAL",
    "MAINTAINER", "NONE", "AS", " ", "  ", "\t", "\\", "`", "\\\n", "`\n", "\n", "\r\n",
    "#", "# c\n", "# escape=`\n", "# syntax=x\n", "#escape=\\\n", "'", "\"", "=", "a=b",
    "k=\"v w\"", "$x", "${y:-z}", "[", "]", "[\"a\", \"b\"]", "['a']", "[1]", ",", "--",
    "--from=a", "--mount=type=cache,target=/x", "--link", "--chown=1:1", "-x", "<<EOF", "<<-EOF",
    "<<'Q'", "3<<E", "EOF\n", "\tEOF\n", "Q\n", "E\n", "<<<", "\u00e9", "\u00a0", "\x0b",
    "\ufeff", "{}", "\"\"", "''", "x", "/dst/", "&&", ";",
]



def random_file(rng):
    parts = []
    for _ in range(rng.randint(1, 40)):
        parts.append(rng.choice(FRAGMENTS) if rng.random() < 0.9 else chr(rng.randint(33, 126)))
    return "".join(parts)


def cmd_fuzz(args):
    reference()
    os.makedirs(CORPUS, exist_ok=True)
    rng = random.Random(args.seed)
    skipped = 0
    for i in range(args.count):
        text = random_file(rng)
        if i % 2 == 0:
            text = "FROM a\n" + text
        path = os.path.join(CORPUS, "fuzz-%05d%s" % (i, SUFFIX))
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            golden = dump(path)
        except UnicodeDecodeError:
            # BuildKit's flag scanner works on bytes and can cut a UTF-8
            # character in two; the package then can't return the string.
            skipped += 1
            os.remove(path)
            continue
        with open(path[: -len(SUFFIX)] + GOLDEN, "w", encoding="utf-8") as f:
            f.write(render(golden))
    print("parser-diff: wrote %d random files and goldens to %s (%d skipped: split UTF-8)"
          % (args.count - skipped, CORPUS, skipped))


# ---- generated variations -------------------------------------------------

def escape_of(text):
    head = text.lstrip("\ufeff").split("\n", 1)[0].replace(" ", "").lower()
    return "`" if head == "#escape=`" else "\\"


def continues(line, esc="\\"):
    """Whether `line` ends with the continuation character."""
    t = line.rstrip(" \t\r")
    return t.endswith(esc) and not t.endswith(esc + esc)


def is_instruction_line(line):
    words = line.strip().split(None, 1)
    return bool(words) and words[0].lower() in KEYWORDS


def t_case(text, rng):
    out = []
    for line in text.split("\n"):
        if is_instruction_line(line) and not line.startswith((" ", "\t")):
            kw, _, rest = line.partition(" ")
            kw = "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in kw)
            line = kw + (" " + rest if rest else "")
        out.append(line)
    return "\n".join(out)


def t_crlf(text, rng):
    return text.replace("\n", "\r\n")


def t_backtick(text, rng):
    lines = [re.sub(r"\\([ \t]*)$", r"`\1", ln) if continues(ln) else ln
             for ln in text.split("\n")]
    return "# escape=`\n" + "\n".join(lines)


def t_comments(text, rng):
    out = []
    for line in text.split("\n"):
        out.append(line)
        if continues(line, escape_of(text)) and rng.random() < 0.7:
            out.append(rng.choice(["# a comment inside", "  # indented comment", "#"]))
    return "\n".join(out)


def t_blanks(text, rng):
    out = []
    for line in text.split("\n"):
        out.append(line)
        if continues(line, escape_of(text)) and rng.random() < 0.5:
            out.append(rng.choice(["", "   ", "\t"]))
        elif rng.random() < 0.2:
            out.append("")
    return "\n".join(out)


def t_trailing(text, rng):
    return "\n".join(ln + rng.choice(["", " ", "  ", "\t", " \t"]) for ln in text.split("\n"))


def t_indent(text, rng):
    return "\n".join(rng.choice(["", " ", "\t", "    "]) + ln if is_instruction_line(ln) else ln
                     for ln in text.split("\n"))


def t_bom(text, rng):
    return "\ufeff" + text


def t_heredoc(text, rng):
    out = []
    lines = text.split("\n")
    esc = escape_of(text)
    for i, line in enumerate(lines):
        prev_cont = i > 0 and continues(lines[i - 1], esc)
        if (not prev_cont and line.startswith("RUN ") and not continues(line, esc)
                and "[" not in line and "<<" not in line and "--" not in line):
            delim = rng.choice(["EOF", "SCRIPT", "'EOT'"])
            dash = rng.choice(["", "-"])
            body = line[4:]
            indent = "\t" if dash else ""
            out.append("RUN <<" + dash + delim)
            out.append(indent + body)
            out.append(indent + delim.strip("'"))
        else:
            out.append(line)
    return "\n".join(out)


def t_join(text, rng):
    out = []
    for line in text.split("\n"):
        if out and out[-1].endswith("\\") and not out[-1].endswith("\\\\") and rng.random() < 0.6:
            out[-1] = out[-1][:-1] + line  # the seeds use \ (windows-escape has none)
        else:
            out.append(line)
    return "\n".join(out)


TRANSFORMS = {
    "case": t_case, "crlf": t_crlf, "backtick": t_backtick, "comments": t_comments,
    "blanks": t_blanks, "trailing": t_trailing, "indent": t_indent, "bom": t_bom,
    "heredoc": t_heredoc, "join": t_join,
}
# Transforms that must come last (they change line endings or the first line).
LAST = ["backtick", "bom", "crlf"]


def variations():
    """Deterministic variations of the real-world seeds: name -> text."""
    out = {}
    seeds = [n for n in corpus_files() if n.startswith("real-")]
    for seed in seeds:
        with open(os.path.join(CORPUS, seed), encoding="utf-8", newline="") as f:
            text = f.read()
        rng = random.Random(seed)
        body = [n for n in TRANSFORMS if n not in LAST]
        for k in range(3):
            names = rng.sample(body, rng.randint(1, 3))
            names += [n for n in LAST if rng.random() < 0.3]
            if "backtick" in names and "escape=`" in text:
                names.remove("backtick")
            varied = text
            for n in names:
                varied = TRANSFORMS[n](varied, rng)
            stem = seed[len("real-"):-len(SUFFIX)]
            out["gen-%s-%d-%s%s" % (stem, k, "+".join(names), SUFFIX)] = varied
    return out


# ---- commands ---------------------------------------------------------------

def cmd_generate(_):
    for n in corpus_files():
        if n.startswith("gen-"):
            os.remove(os.path.join(CORPUS, n))
    gen = variations()
    for name, text in gen.items():
        with open(os.path.join(CORPUS, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    print("parser-diff: wrote %d generated variations" % len(gen))


def cmd_write(_):
    reference()
    for n in corpus_files():
        path = os.path.join(CORPUS, n)
        with open(path[: -len(SUFFIX)] + GOLDEN, "w", encoding="utf-8") as f:
            f.write(render(dump(path)))
    stale = [n for n in os.listdir(CORPUS)
             if n.endswith(GOLDEN) and n[: -len(GOLDEN)] + SUFFIX not in corpus_files()]
    for n in stale:
        os.remove(os.path.join(CORPUS, n))
    print("parser-diff: wrote %d goldens" % len(corpus_files()))


def cmd_check(_):
    reference()
    problems = []
    files = corpus_files()
    for name, text in variations().items():
        path = os.path.join(CORPUS, name)
        if not os.path.exists(path):
            problems.append("%s: generated variation missing (run generate)" % name)
            continue
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() != text:
                problems.append("%s: differs from the generator (run generate)" % name)
    for n in files:
        path = os.path.join(CORPUS, n)
        golden = path[: -len(SUFFIX)] + GOLDEN
        want = render(dump(path))
        try:
            with open(golden, encoding="utf-8") as f:
                have = f.read()
        except FileNotFoundError:
            problems.append("%s: golden missing (run write)" % n)
            continue
        if have != want:
            problems.append("%s: golden differs from BuildKit's parse (run write and review)" % n)
    for p in problems:
        print(p)
    ok = len(files) - len([p for p in problems if "golden" in p])
    print("parser-diff: %d of %d goldens match BuildKit" % (ok, len(files)))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["generate", "write", "check", "fuzz"])
    ap.add_argument("--corpus", help="corpus directory (default builder/tests/corpus)")
    ap.add_argument("--count", type=int, default=1000, help="fuzz: how many files")
    ap.add_argument("--seed", type=int, default=1, help="fuzz: random seed")
    args = ap.parse_args()
    global CORPUS
    if args.corpus:
        CORPUS = os.path.abspath(args.corpus)
    commands = {"generate": cmd_generate, "write": cmd_write, "check": cmd_check, "fuzz": cmd_fuzz}
    return commands[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
