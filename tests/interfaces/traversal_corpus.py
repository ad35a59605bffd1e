"""A corpus of data paths that try to read outside the data roots, and the files they aim at.

`traversal_corpus(base)` lays out, under `base`, one data root (`root/`, with a harmless
`birds.csv`) and, beside it, `outside/sentinel.csv`: a file whose unique content must never
appear in any answer, event or document, and which must never be opened. Symlinks inside the
root lead to it. The cases are the paths a caller sends (as JSON, YAML, a chat line, a Slack
message); each is refused by the data-roots rule, before the file system is read.

Used by `tests/interfaces/test_data_roots.py` and by `benchmarks/fuzz.py` (serve with
`MLPILOT_DATA_ROOTS=<layout.root>` and send `case.path` in `data` / `test_data`).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

#: System files the corpus aims at besides the sentinel (never opened either).
SYSTEM_TARGETS = ("/etc/passwd", "/etc/shadow", "/proc/self/environ", "/dev/zero")


@dataclass(frozen=True)
class TraversalCase:
    """One path to send: its id, the text, and the kind of trick it plays."""

    id: str
    path: str
    kind: str


@dataclass
class TraversalLayout:
    """The folders a corpus runs against, and its cases."""

    root: Path  # the only data root
    outside: Path  # beside the root, never to be read
    sentinel: Path  # outside/sentinel.csv
    secret: str  # the sentinel's unique content: it must never come back
    cases: list[TraversalCase] = field(default_factory=list)

    def watched(self) -> list[str]:
        """Absolute paths (and folders) whose opening means a case got through."""
        return [str(self.outside), str(self.sentinel.resolve()), *SYSTEM_TARGETS]


def traversal_corpus(base: Path) -> TraversalLayout:
    """Lay out a root, the sentinel outside it, and symlinks; return the cases (over 40)."""
    base = Path(base).resolve()
    root, outside = base / "root", base / "outside"
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    secret = f"sentinel_{secrets.token_hex(8)}"
    sentinel = outside / "sentinel.csv"
    sentinel.write_text(f"{secret},species\n{secret}_a,x\n{secret}_b,y\n" * 20)
    (root / "birds.csv").write_text("wing,beak,species\n" + "".join(
        f"{i % 7},{i % 5},{'ab'[i % 7 + i % 5 > 5]}\n" for i in range(60)))
    links = {"link.csv": sentinel, "env.csv": Path("/proc/self/environ"),
             "passwd.csv": Path("/etc/passwd"), "out": outside,
             "rel.csv": Path("..") / "outside" / "sentinel.csv", "chain.csv": root / "link.csv"}
    for name, target in links.items():
        if not (root / name).is_symlink():
            os.symlink(target, root / name)
    s, o = str(sentinel), str(outside)
    depth = "../" * 12
    paths = [
        ("dotdot", "../outside/sentinel.csv"),
        ("dotdot", f"{depth}etc/passwd"),
        ("dotdot", "./../outside/sentinel.csv"),
        ("dotdot", "birds/../../outside/sentinel.csv"),
        ("dotdot", "root:../outside/sentinel.csv"),
        ("dotdot", f"{root}/../outside/sentinel.csv"),
        ("absolute", s),
        ("absolute", "/etc/passwd"),
        ("absolute", "/etc/shadow"),
        ("absolute", "/proc/self/environ"),
        ("absolute", f"/proc/self/root{s}"),
        ("absolute", "/dev/zero"),
        ("absolute", f"//{s.lstrip('/')}"),
        ("absolute", f"/./{s.lstrip('/')}"),
        ("symlink", "link.csv"),
        ("symlink", "root:link.csv"),
        ("symlink", str(root / "link.csv")),
        ("symlink", "chain.csv"),
        ("symlink", "rel.csv"),
        ("symlink", "env.csv"),
        ("symlink", "passwd.csv"),
        ("symlinked-dir", "out/sentinel.csv"),
        ("symlinked-dir", "root:out/sentinel.csv"),
        ("windows", "..\\outside\\sentinel.csv"),
        ("windows", "..\\..\\..\\etc\\passwd"),
        ("windows", "C:\\Windows\\win.ini"),
        ("windows", "C:/Windows/win.ini"),
        ("windows", "\\\\server\\share\\sentinel.csv"),
        ("url-encoded", "%2e%2e%2foutside%2fsentinel.csv"),
        ("url-encoded", "..%2foutside%2fsentinel.csv"),
        ("double-encoded", "%252e%252e%252foutside%252fsentinel.csv"),
        ("url-encoded", s.replace("/", "%2f")),
        ("nul", "../outside/sentinel.csv\x00birds.csv"),
        ("nul", f"{s}\x00.csv"),
        ("control", "../outside/sentinel.csv\n"),
        ("long", "x/" * 2100 + "sentinel.csv"),
        ("long", "./" * 2100 + "../outside/sentinel.csv"),
        ("long", "a" * 300 + ".csv"),
        ("home", "~root/.bashrc"),
        ("home", "~/sentinel.csv"),
        ("url", f"file://{s}"),
        ("url", f"file:{s}"),
        ("url", "file:///etc/passwd"),
        ("url", "http://127.0.0.1:9/sentinel.csv"),
        ("url", "other:sentinel.csv"),
        ("trailing", "../outside/sentinel.csv "),
        ("trailing", f"{o}/sentinel.csv."),
        ("trailing", "link.csv "),
        ("trailing", "link.csv."),
        ("trailing", "..../outside/sentinel.csv"),
        ("empty", " "),
    ]
    cases = [TraversalCase(f"{kind}-{i:02d}", path, kind) for i, (kind, path) in enumerate(paths)]
    return TraversalLayout(root=root, outside=outside, sentinel=sentinel, secret=secret,
                           cases=cases)
