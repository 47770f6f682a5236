"""The registry as a shared compile cache, for one package and platform within one run.

The first compile task that runs asks the registry once for every key it holds (one tag
listing of `<namespace>/<pkg>.modules`, a request per thousand keys), then fetches, eight
at a time in the background, every module the registry holds whose local copy is not
that key; each task waits only for its own module. A module compiled here is pushed in
the background (`oras push`); the platform's publishing step waits for the pushes.

Never wrong, never stuck: a fetched artifact is used only when it carries a signature,
by a key this checkout trusts (its own cosign key, `cache.trusted_keys`), of the very
manifest read, every blob matches its digest and size and its record matches the key
and the `.so`; anything else is a warning and a local compile, whose push then replaces
the entry. A registry that cannot be reached or refuses the credentials turns that side
off for the rest of the run, with one warning.

Pushed entries are signed together after the pushes, in this process (what `cosign sign`
writes, concurrently): each push notes its digest in a spool file beside the work folder (worker
processes share it), and an entry a run could not sign is signed by the next.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from axion_build.adapters.oras import OrasError, push_artifact
from axion_build.adapters.registry import RegistryError, client_for, registry_base_url
from axion_build.adapters.signatures import read_manifest, signer
from axion_build.build.artifact import (
    ARTIFACT_TYPE,
    KEY_ANNOTATION,
    RECORD_TYPE,
    SO_TYPE,
    BadArtifact,
    DamagedBlob,
    Origin,
    check_blob,
    check_manifest,
    check_record,
    make_record,
)
from axion_build.build.cachedamage import damaged_file, load_damaged, mend_hint, remember_damaged
from axion_build.build.cachesign import sign_spooled, spool_of
from axion_build.build.signkeys import (
    cosign_key_paths,
    key_folder,
    trusted_keys,
)
from axion_build.config.model import PackageConfig
from axion_build.names import module_cache_repository

FETCHERS = 8
PUSHERS = 4
PUSH_TRIES = 3
TIMEOUT = 5.0
# what a push error says when the registry is not there (then pushing stops for the run)
UNREACHABLE_WORDS = ("connection refused", "no such host", "i/o timeout", "unauthorized",
                     "denied", "timed out")

Candidates = Callable[[], list[tuple[str, Path]]]


def unreachable(exc: OrasError) -> bool:
    """Whether a push error means the registry (or oras) is not there for this run."""
    text = str(exc).lower()
    return any(word in text for word in UNREACHABLE_WORDS) or "no oras" in text


def in_worker() -> bool:
    """Whether this process is a worker forked by the run's main process."""
    from axion_build.records.runstate import ACTIVE_ENV

    main = os.environ.get(ACTIVE_ENV, "")
    return bool(main) and main != str(os.getpid())


def stamp_of(so_file: Path) -> Path:
    """Where the key of the `.so` in place is kept."""
    return so_file.with_name(so_file.name + ".key")


def note(text: str) -> str:
    """Print one cache warning (it is also kept in the task's record) and return it."""
    line = f"registry cache: {text}"
    print(f"axion: WARNING: {line}", file=sys.stderr, flush=True)
    return line


class SharedCache:
    """What this run takes from and gives to the registry for one package and platform."""

    def __init__(self, cfg: PackageConfig, platform: str, *, pull: bool, push: bool,
                 work_dir: Path, candidates: Candidates):
        self.cfg, self.platform = cfg, platform
        self.pull, self.push = pull, push
        self.client = client_for(cfg.registry, timeout=TIMEOUT)
        self.repository = module_cache_repository(cfg)
        self.where = f"{cfg.registry.url}/{self.repository}"
        self.work_dir, self.candidates = work_dir, candidates
        self.lock = threading.Lock()
        self.known: set[str] | None = None
        self.fetches: dict[str, Future] = {}
        self.pushes: list[Future] = []
        self.fetch_pool: ThreadPoolExecutor | None = None
        self.push_pool: ThreadPoolExecutor | None = None
        self.warnings: list[str] = []
        self.rejected: set[str] = set()  # keys whose artifact failed its checks
        self.counts: Counter = Counter()
        # a doit worker process (`doit -n N -P process`) fetches and pushes in the task
        # itself: it may end before a background thread would finish
        self.inline = in_worker()
        self.keys = trusted_keys(cfg)
        self.spool = spool_of(work_dir)
        self.signing_key = cosign_key_paths(key_folder(cfg), cfg.name)[0]
        self.damaged_file = damaged_file(cfg.build_root)
        self.damaged = set(load_damaged(self.damaged_file))  # left alone for a day
        self.check_keys()

    def warn(self, text: str) -> str:
        """Keep and print one warning."""
        line = note(text)
        with self.lock:
            self.warnings.append(line)
        return line

    def start(self) -> None:
        """The registry's keys, once, and the fetch of every module that needs one."""
        with self.lock:
            if self.known is not None:
                return
            try:
                self.known = self.client.all_tags(self.repository)
            except RegistryError as exc:
                self.known, self.pull = set(), False
                if exc.status in (401, 403):
                    self.push = False
                reason = str(exc)
            else:
                reason = ""
            wanted = [(key, so) for key, so in self.candidates() if key in self.known
                      and key not in self.damaged and not (so.exists() and stamp_of(so).is_file()
                               and stamp_of(so).read_text() == key)]
            if wanted and not self.inline:
                self.fetch_pool = ThreadPoolExecutor(FETCHERS, "axion-fetch")
                for key, _ in wanted:
                    self.fetches[key] = self.fetch_pool.submit(self.fetch, key)
        if reason:
            self.warn(f"cannot read {self.where} ({reason}); compiling here")

    def check_keys(self) -> None:
        """No trusted key: nothing can be taken; no signing key: nothing worth giving (an
        unsigned entry is refused everywhere). Said once, a fact of the setup, no fault."""
        off = []
        if self.pull and not self.keys:
            self.pull = False
            off.append("takes nothing (no trusted public key)")
        if self.push and not self.signing_key.is_file():
            self.push = False
            off.append(f"gives nothing (no cosign key {self.signing_key} to sign with)")
        if off:
            print(f"axion: registry cache {self.where} {' and '.join(off)}; 'axion keys "
                  f"{self.cfg.name}' makes the key pair", file=sys.stderr, flush=True)

    def fetch(self, key: str) -> tuple[Path, Origin]:
        """Download and check one artifact into the work folder."""
        manifest, digest = read_manifest(self.client, self.repository, key)
        if not manifest:
            raise BadArtifact("the registry no longer holds it")
        so_layer, record_layer = check_manifest(manifest, key)
        key_file, why = signer(self.client, self.repository, digest, self.keys)
        if key_file is None:
            trusted = ", ".join(Path(k.source).name for k in self.keys)
            raise BadArtifact(f"{why}; trusted: {trusted}")
        so_bytes = self.client.blob(self.repository, so_layer["digest"])
        check_blob(so_layer, so_bytes)
        record_bytes = self.client.blob(self.repository, record_layer["digest"])
        check_blob(record_layer, record_bytes)
        origin = replace(check_record(record_bytes, so_bytes, key, self.platform),
                         signer=Path(key_file.source).name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.work_dir, suffix=".partial",
                                         delete=False) as out:
            out.write(so_bytes)
        return Path(out.name), origin

    def take(self, key: str, so_file: Path) -> tuple[Origin | None, str]:
        """Put the registry's module for `key` at `so_file`: who built it, or None and why
        not ('' when the registry simply does not have it)."""
        if not self.pull:
            return None, ""
        self.start()
        with self.lock:
            future = self.fetches.pop(key, None)
        if future is None and (key not in (self.known or ()) or key in self.damaged):
            return None, ""
        try:
            fetched, origin = future.result() if future is not None else self.fetch(key)
        except DamagedBlob as exc:
            with self.lock:
                self.damaged.add(key)
            remember_damaged(self.damaged_file, key, exc.digest, self.where)
            return None, self.warn(f"{self.where}:{key[:16]} for {so_file.name} not used "
                                   f"({exc}); compiled here, and not pushed: "
                                   + mend_hint(self.where, exc.digest, self.damaged_file))
        except (BadArtifact, RegistryError, OSError, ValueError, KeyError) as exc:
            with self.lock:
                self.rejected.add(key)
            return None, self.warn(f"{self.where}:{key[:16]} for {so_file.name} not used "
                                   f"({exc}); compiled here")
        so_file.parent.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, so_file)
        stamp_of(so_file).write_text(key)
        self.counts["fetched"] += 1
        return origin, ""

    def give(self, key: str, so_file: Path, module: str, origin: Origin) -> None:
        """Push a module compiled here, in the background (when this run pushes)."""
        stamp_of(so_file).write_text(key)
        if (not self.push or key in self.damaged
                or (key in (self.known or ()) and key not in self.rejected)):
            return
        staging = Path(tempfile.mkdtemp(prefix="push-", dir=self.work_dir.parent))
        shutil.copyfile(so_file, staging / "module.so")
        record = make_record(key, module, self.platform, (staging / "module.so").read_bytes(),
                             origin)
        (staging / "record.json").write_text(json.dumps(record, indent=1))
        if self.inline:
            self.send(key, staging)
            return
        with self.lock:
            if self.push_pool is None:
                self.push_pool = ThreadPoolExecutor(PUSHERS, "axion-push")
            self.pushes.append(self.push_pool.submit(self.send, key, staging))

    def send(self, key: str, staging: Path) -> None:
        """One `oras push`; a registry that is not there stops the pushes of the run."""
        try:
            if not self.push:
                return
            digest = self.push_with_retry(key, staging)
            with self.lock:  # pushes run in several threads
                self.counts["pushed"] += 1
                with self.spool.open("a") as spool:  # signed after the last push
                    spool.write(f"{self.cfg.registry.url}/{self.repository}@{digest}\n")
        except OrasError as exc:
            stop = unreachable(exc)
            if self.push or not stop:
                self.warn(f"push to {self.where} failed ({exc})"
                          + ("; not pushing more this run" if stop else ""))
            if stop:
                self.push = False
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def push_with_retry(self, key: str, staging: Path) -> str:
        """`oras push`, tried again after a refusal other than "not there".

        Two runners uploading the same blob at once can make the registry refuse one
        upload ("digest invalid"); the blob is whole by the time the second try runs.
        """
        registry = self.cfg.registry
        for attempt in range(PUSH_TRIES):
            try:
                return push_artifact(f"{registry.url}/{self.repository}:{key}", staging,
                              [("module.so", SO_TYPE), ("record.json", RECORD_TYPE)],
                              ARTIFACT_TYPE, {KEY_ANNOTATION: key},
                              plain_http=registry_base_url(registry).startswith("http:"),
                              username=registry.username, password=registry.password)
            except OrasError as exc:
                if attempt + 1 == PUSH_TRIES or unreachable(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def finish(self) -> dict:
        """Wait for the pushes; what the cache did for this platform."""
        for future in list(self.pushes):
            future.result()
        for pool in (self.fetch_pool, self.push_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for future in self.fetches.values():  # fetched for tasks that did not run
            if future.done() and not future.exception():
                future.result()[0].unlink(missing_ok=True)
        signed, why = sign_spooled(self.cfg, self.spool)
        if why:
            self.warn(why)
        return {"fetched": self.counts["fetched"], "pushed": self.counts["pushed"],
                "signed": signed, "rejected": len(self.rejected),
                "warnings": list(self.warnings)}
