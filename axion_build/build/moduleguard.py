"""The secret guard of the compile stage: Cython stores a module's string constants
compressed in its `.so`, where the image guard's patterns never match, so a module's
source (its literal strings, as Cython will see them) and its generated C are searched
before they are compiled or a compiled copy is taken from the registry cache.

The rules are the image guard's: any PEM private key, the configured secret values and
lines of the package's own PEM and cosign private keys.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from axion_build.build.freshness import NamedCheck
from axion_build.build.secretscan import PEM_PRIVATE, what_in
from axion_build.config.model import PackageConfig


def shipped_secrets(cfg: PackageConfig) -> tuple[bytes, ...]:
    """The secret values the image guard searches for, as bytes."""
    from axion_build.build.guard import guarded_secrets, guarded_values

    return guarded_secrets(guarded_values(cfg))


def folded(node: ast.AST) -> str | bytes | None:
    """The value of a string literal or of a `+` of literals (Cython folds those), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = folded(node.left), folded(node.right)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(left, bytes) and isinstance(right, bytes):
            return left + right
    return None


def literals(text: str) -> Iterator[tuple[int, bytes]]:
    """(line, value) of every string constant of a Python source, escapes resolved (pure);
    nothing when it does not parse (Cython reports that)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        value = folded(node)
        if value is not None:
            yield node.lineno, value if isinstance(value, bytes) else value.encode(
                "utf-8", "surrogatepass")


def locate(data: bytes, secrets: tuple[bytes, ...]) -> tuple[int, str]:
    """(line, what) of the first secret in a text file's bytes; (0, '') when none (pure)."""
    what = what_in(data, secrets)
    if not what:
        return 0, ""
    match = PEM_PRIVATE.search(data)
    at = match.start() if match and what == "a PEM private key" else min(
        i for i in (data.find(s) for s in secrets) if i >= 0)
    return data.count(b"\n", 0, at) + 1, what


def source_findings(text: bytes, secrets: tuple[bytes, ...]) -> list[tuple[int, str]]:
    """(line, what) of the secrets in a module's source: in its text as written, and in
    each of its string constants (pure)."""
    found = []
    line, what = locate(text, secrets)
    if what:
        found.append((line, what))
    for line, value in literals(text.decode("utf-8", "replace")):
        what = what_in(value, secrets)
        if what and (line, what) not in found:
            found.append((line, what))
    return sorted(found)


def source_problem(source: Path, secrets: tuple[bytes, ...]) -> str:
    """'<file>:<line>: <what>' lines for a module source holding a secret, '' when clean."""
    return "\n".join(f"{source}:{line}: secret guard: {what} written in the module (it "
                     "would ship in the compiled .so)"
                     for line, what in source_findings(source.read_bytes(), secrets))


def generated_problem(c_file: Path, source: Path, secrets: tuple[bytes, ...]) -> str:
    """The same for the C Cython generated from `source`, '' when clean."""
    line, what = locate(c_file.read_bytes(), secrets)
    if not what:
        return ""
    return (f"{c_file}:{line}: secret guard: {what} in the C generated from {source} "
            "(it would ship in the compiled .so)")


class SecretsUnchanged(NamedCheck):
    """doit uptodate check: the secrets a module's source was searched for are the ones
    configured now, so a new password or key is searched for in every module again.

    Evaluated lazily when the task is selected; one check serves every module task of a
    package, and saves a digest naming the secrets (never the secrets themselves).
    """

    reason = "the configured secrets or keys searched for changed"

    def __init__(self, cfg: PackageConfig):
        self.cfg, self.current = cfg, ""

    def __call__(self, task, values) -> bool:
        """True when the saved digest equals the current one."""
        from axion_build.build.guard import secrets_key

        if not self.current:
            self.current = secrets_key(shipped_secrets(self.cfg))
        digest = self.current
        task.value_savers.append(lambda: {"_secrets": digest})
        return values.get("_secrets") == digest
