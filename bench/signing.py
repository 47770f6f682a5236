"""Signing and checking registry cache entries, measured side by side in one run.

    python bench/signing.py [--modules 40] [--registry 127.0.0.1:5000]

Pushes --modules real module artifacts (oras) to a namespace of its own, then times:
1. signing them one `cosign sign` process each vs all of them in one `cosign sign` vs in
   this process, concurrently (what a run does after its last push)
2. checking every entry's signature in this process (what a fetching run does, 8 at a
   time) vs one `cosign verify` process each
Prints seconds and the ratios. Deletes nothing but its own temporary folder; its
namespace (`bench-signing-<id>`) stays in the registry, tagged by this run's id.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from axion_build.adapters.cosign import run_cosign, sign_command, verify_command  # noqa: E402
from axion_build.adapters.cosignkey import load_signing_key  # noqa: E402
from axion_build.adapters.insign import SigningJob, sign_many  # noqa: E402
from axion_build.adapters.oras import push_artifact  # noqa: E402
from axion_build.adapters.registry import RegistryClient  # noqa: E402
from axion_build.adapters.registrywrite import writer_for  # noqa: E402
from axion_build.adapters.signatures import signer  # noqa: E402
from axion_build.build import artifact  # noqa: E402
from axion_build.build.signkeys import provision_cosign_keys  # noqa: E402
from axion_build.config.model import RegistrySpec  # noqa: E402
from axion_build.config.publickeys import load_public_key  # noqa: E402


def push_modules(work: Path, ref: str, count: int) -> list[str]:
    """`count` artifacts shaped as the cache's, pushed under `ref`; their digests."""
    origin = artifact.Origin("bench", "bench-host", "2026-12-04T00:00:00Z")
    digests = []
    for index in range(count):
        key = hashlib.sha256(f"{ref}-{index}".encode()).hexdigest()
        staging = work / key[:12]
        staging.mkdir(parents=True)
        body = artifact.ELF_MAGIC + hashlib.sha256(key.encode()).digest() * 256
        (staging / "module.so").write_bytes(body)
        record = artifact.make_record(key, f"m{index}.py", "linux/amd64", body, origin)
        (staging / "record.json").write_text(json.dumps(record))
        digests.append(push_artifact(
            f"{ref}:{key}", staging, [("module.so", artifact.SO_TYPE),
                                      ("record.json", artifact.RECORD_TYPE)],
            artifact.ARTIFACT_TYPE, {artifact.KEY_ANNOTATION: key}, plain_http=True))
    return digests


def seconds(action) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=40)
    parser.add_argument("--registry", default="127.0.0.1:5000")
    options = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        work = Path(tmp)
        provision_cosign_keys(work / "keys", "bench", "")
        key, public = work / "keys" / "bench_cosign.key", work / "keys" / "bench_cosign.pub"
        repository = f"bench-signing-{run}"
        inside = [f"{options.registry}/{repository}/inside@{d}" for d in
                  push_modules(work / "inside", f"{options.registry}/{repository}/inside",
                               options.modules)]
        one = [f"{options.registry}/{repository}/one@{d}" for d in
               push_modules(work / "one", f"{options.registry}/{repository}/one",
                            options.modules)]
        batch = [f"{options.registry}/{repository}/batch@{d}" for d in
                 push_modules(work / "batch", f"{options.registry}/{repository}/batch",
                              options.modules)]
        each = seconds(lambda: [run_cosign(sign_command(key, ref, True)) for ref in one])
        together = seconds(lambda: run_cosign(sign_command(key, batch, True)))
        writer = writer_for(RegistrySpec(url=options.registry, insecure=True))
        in_process = seconds(lambda: sign_many(writer, load_signing_key(key, ""), [
            SigningJob(*ref.rsplit("@", 1)) for ref in inside]))
        client, keys = RegistryClient(f"http://{options.registry}"), (load_public_key(public),)

        def check(ref: str) -> None:
            name, digest = ref.split("/", 1)[1].split("@")
            assert signer(client, name, digest, keys)[0] is not None, ref

        def check_all() -> None:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(check, batch))

        checked = seconds(check_all)
        by_cosign = seconds(lambda: [run_cosign(verify_command(public, ref, True))
                                     for ref in batch])
    print(f"sign {options.modules} entries, a cosign process each: {each:7.2f} s")
    print(f"sign {options.modules} entries, one cosign process:    {together:7.2f} s"
          f"   ({each / together:.1f}x faster)")
    print(f"sign {options.modules} entries, in this process:       {in_process:7.2f} s"
          f"   ({each / in_process:.1f}x faster)")
    print(f"check {options.modules} signatures, cosign verify each: {by_cosign:7.2f} s")
    print(f"check {options.modules} signatures, in this process:   {checked:7.2f} s"
          f"   ({by_cosign / checked:.1f}x faster)")


if __name__ == "__main__":
    main()
