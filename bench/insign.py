"""Signing and attesting a run's images: cosign processes vs this process, side by side.

    python bench/insign.py [--images 14] [--registry 127.0.0.1:5000] [--workers 16]

Pushes 3 x --images small images to a namespace of its own (`bench-insign-<id>`), makes a
cosign key pair with a password, then times for --images images each, one signature and
two attestations (a CycloneDX SBOM of ~50 KB and a SLSA provenance, the pipeline's sizes):
1. today: one `cosign sign` and two `cosign attest` processes per image, in turn
2. the fewest cosign allows: one `cosign sign` of every image, two `cosign attest` each
3. in this process (adapters/insign.py): the key opened once, every image at once
Every in-process result is checked afterwards with signatures.py, and one with the real
`cosign verify` and `cosign verify-attestation`. Deletes nothing but its own temporary
folder; the namespace stays in the registry.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from axion_build.adapters.cosign import (  # noqa: E402
    attest_command,
    generate_command,
    run_cosign,
    sign_command,
    verify_attestation_command,
    verify_command,
)
from axion_build.adapters.cosignkey import load_signing_key  # noqa: E402
from axion_build.adapters.insign import SigningJob, attestation, sign_many  # noqa: E402
from axion_build.adapters.registry import RegistryClient  # noqa: E402
from axion_build.adapters.registrywrite import RegistryWriter  # noqa: E402
from axion_build.adapters.signatures import attested, signer  # noqa: E402
from axion_build.config.publickeys import load_public_key  # noqa: E402

PASSWORD = "bench-insign-password"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def push_image(writer: RegistryWriter, repository: str, text: str) -> str:
    """A one-layer image of `text` in `repository`; its digest."""
    layer = gzip.compress(text.encode(), mtime=0)
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "size": len(config), "digest": writer.put_blob(repository, config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "size": len(layer), "digest": writer.put_blob(repository, layer)}]}
    return writer.put_manifest(repository, "latest", json.dumps(manifest).encode(), OCI_MANIFEST)


def documents(target: str) -> tuple[dict, dict]:
    """(a CycloneDX SBOM, a SLSA v0.2 provenance predicate) of the pipeline's sizes."""
    components = [{"type": "library", "bom-ref": f"pypi:pkg{i}", "name": f"pkg{i}",
                   "version": f"1.{i}.0", "hashes": [{"alg": "SHA-256", "content": "ab" * 32}],
                   "properties": [{"name": "axion:module", "value": f"{target}/m{i}.py"}]}
                  for i in range(150)]
    sbom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "components": components}
    provenance = {"builder": {"id": "axion-build bench"},
                  "buildType": "https://axion.build/pipeline/image@v1",
                  "invocation": {"parameters": {"target": target}},
                  "metadata": {"buildStartedOn": "2026-12-04T00:00:00Z"},
                  "materials": [{"uri": f"git+file:{target}", "digest": {"sha1": "0" * 40}}]}
    return sbom, provenance


def seconds(action) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def cosign_each(key: Path, images: list[str], files: tuple[Path, Path]) -> None:
    """Today: a `cosign sign` and two `cosign attest` processes per image."""
    for image in images:
        run_cosign(sign_command(key, image, True), PASSWORD)
        cosign_attest(key, [image], files)


def cosign_fewest(key: Path, images: list[str], files: tuple[Path, Path]) -> None:
    """One `cosign sign` of every image (it takes many), then two `cosign attest` each."""
    run_cosign(sign_command(key, images, True), PASSWORD)
    cosign_attest(key, images, files)


def cosign_attest(key: Path, images: list[str], files: tuple[Path, Path]) -> None:
    """`cosign attest` of the SBOM and the provenance, one process each per image."""
    for image in images:
        run_cosign(attest_command(key, image, files[0], "cyclonedx", True), PASSWORD)
        run_cosign(attest_command(key, image, files[1], "slsaprovenance", True), PASSWORD)


def in_process(key_file: Path, writer: RegistryWriter, jobs: list[SigningJob],
               workers: int) -> None:
    """Open the key, then sign and attest every job in this process."""
    key = load_signing_key(key_file, PASSWORD)
    failed = [o.error for o in sign_many(writer, key, jobs, workers) if o.error]
    assert not failed, failed


def check(writer: RegistryWriter, public: Path, jobs: list[SigningJob], host: str) -> None:
    """signatures.py accepts every in-process result; cosign accepts the first."""
    keys = (load_public_key(public),)
    for job in jobs:
        repository = job.name[len(host) + 1:]
        assert signer(writer.client, repository, job.digest, keys)[0] is not None, job.name
        found = attested(writer.client, repository, job.digest, keys)
        assert set(found) == {a.predicate_type for a in job.attestations}, job.name
    image = f"{jobs[0].name}@{jobs[0].digest}"
    run_cosign(verify_command(public, image, True))
    for kind in ("cyclonedx", "slsaprovenance"):
        run_cosign(verify_attestation_command(public, image, kind, True))


def main() -> None:
    """Push the images, time the three ways, check the results, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=14)
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--workers", type=int, default=16)
    options = parser.parse_args()
    count, host = options.images, options.registry
    namespace = f"bench-insign-{uuid.uuid4().hex[:8]}"
    writer = RegistryWriter(RegistryClient(f"http://{host}"))
    groups = {way: [(f"{namespace}/{way}-{i}",
                     push_image(writer, f"{namespace}/{way}-{i}", f"{way} {i}"))
                    for i in range(count)] for way in ("each", "fewest", "inproc")}
    sbom, provenance = documents("web")
    with tempfile.TemporaryDirectory(prefix="bench-insign-") as tmp:
        work = Path(tmp)
        run_cosign(generate_command("bench"), password=PASSWORD, cwd=work)
        key, public = work / "bench.key", work / "bench.pub"
        files = (work / "sbom.json", work / "provenance.json")
        files[0].write_text(json.dumps(sbom))
        files[1].write_text(json.dumps(provenance))
        refs = {way: [f"{host}/{r}@{d}" for r, d in pairs] for way, pairs in groups.items()}
        jobs = [SigningJob(f"{host}/{r}", d, (attestation("cyclonedx", sbom),
                                             attestation("slsaprovenance", provenance)))
                for r, d in groups["inproc"]]
        each = seconds(lambda: cosign_each(key, refs["each"], files))
        fewest = seconds(lambda: cosign_fewest(key, refs["fewest"], files))
        opening = seconds(lambda: load_signing_key(key, PASSWORD))
        ours = seconds(lambda: in_process(key, writer, jobs, options.workers))
        check(writer, public, jobs, host)
    report(count, namespace, (each, fewest, ours), opening)


def report(count: int, namespace: str, timings: tuple[float, float, float],
           opening: float) -> None:
    """The three timings side by side, with the ratios to today's."""
    each, fewest, ours = timings
    print(f"sign + 2 attestations of {count} images in {namespace} (in-process results "
          "checked by signatures.py and cosign verify):")
    print(f"  today: cosign sign + 2 cosign attest per image ({3 * count} processes)"
          f"  {each:7.2f} s")
    print(f"  fewest cosign allows: 1 sign + 2 attest per image ({1 + 2 * count} processes)"
          f"  {fewest:7.2f} s   ({each / fewest:.1f}x faster than today)")
    print(f"  in this process (adapters/insign.py, key opened once: {opening:.2f} s)"
          f"  {ours:7.2f} s   ({each / ours:.1f}x faster than today)")


if __name__ == "__main__":
    main()
