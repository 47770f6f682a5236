"""Supply chain against the real engine, the loopback registry and cosign: SBOM, provenance,
signatures, `verify`, and no private key anywhere an image or a report can carry it.

One pipeline run (module scope) serves every test; the tests that tamper with the
registry come last, each on an image of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from axion_build.adapters.registry import RegistryClient, manifest_digest, overview
from axion_build.build.guard import PEM_PRIVATE, guard_image, scan_bytes
from axion_build.build.images import LABEL_BASES, LABEL_INPUTS, LABEL_REPRODUCIBLE
from axion_build.build.keys import key_paths
from axion_build.build.signkeys import cosign_key_paths, provision_cosign_keys
from axion_build.build.vouch import CYCLONEDX, SLSA, attestation_problem
from axion_build.config.model import RegistrySpec
from axion_build.names import immutable_tag
from axion_build.publish.provenance import REDACTED
from axion_build.publish.sbom import dpkg_packages, python_distributions
from axion_build.publish.sbomdoc import component_counts, module_hashes, schema_problems
from axion_build.publish.supply import cosign_tag
from axion_build.publish.verify import module_problem
from needs import missing, needs
from workspace import ran_tasks, registry_workspace, uptodate_tasks

PASSWORD = "cosign-pass-7f3a91"
TARGETS = ("runtime", "shop", "stock", "caddy")
REGISTRY = "127.0.0.1:5000"
needs_cosign = needs(shutil.which("cosign") is not None,
                     "no cosign CLI (scripts/provision.sh install_cosign)")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- pure ------------------------------------------------------------------------------

DPKG = """Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
"""


def test_dpkg_status_gives_installed_packages_only():
    assert [(p.name, p.version, p.arch) for p in dpkg_packages(DPKG)] == [
        ("bash", "5.2.15-2+b7", "amd64"), ("tzdata", "2024a-0+deb12u1", "all")]


def test_python_distributions_are_read_from_dist_info_metadata(tmp_path):
    site = tmp_path / "python3.11" / "site-packages"
    for folder, text in (("PyYAML-6.0.2.dist-info", "Name: PyYAML\nVersion: 6.0.2\n"),
                         ("odd.dist-info", "Summary: no name\n"),
                         ("notes", "Name: not-a-dist\nVersion: 1\n")):
        (site / folder).mkdir(parents=True)
        (site / folder / "METADATA").write_text(text)
    assert [(p.name, p.version) for p in python_distributions(tmp_path)] == [("PyYAML", "6.0.2")]


@pytest.mark.parametrize(("listed", "expected"), [
    ({"a.so": ("1", "s1"), "b.so": ("2", "s2")}, ""),
    ({"a.so": ("1", "s1")}, "missing: b.so"),
    ({"a.so": ("1", "s1"), "b.so": ("2", "s2"), "c.so": ("3", "")}, "not compiled here: c.so"),
    ({"a.so": ("9", "s1"), "b.so": ("2", "s2")}, ".so sha256 differs from the compiled tree "
                                                  "for a.so"),
    ({"a.so": ("1", "s1"), "b.so": ("2", "s9")}, "source sha256 differs from the compiled "
                                                  "manifest for b.so"),
])
def test_module_problem_names_each_difference(listed, expected):
    problem = module_problem(listed, {"a.so": "1", "b.so": "2"}, {"a.so": "s1", "b.so": "s2"})
    assert (expected in problem) if expected else problem == ""


@pytest.mark.parametrize(("found", "expected"), [
    ({SLSA: {"buildConfig": {"inputs_hash": "a" * 64}}, CYCLONEDX: {}}, ""),
    ({CYCLONEDX: {}}, "no provenance attestation signed by a trusted key"),
    ({SLSA: {"buildConfig": {"inputs_hash": "a" * 64}}}, "no SBOM attestation signed by a "
     "trusted key"),
    ({SLSA: {"buildConfig": {"inputs_hash": "b" * 64}}, CYCLONEDX: {}},
     f"its provenance records inputs {'b' * 16}, this checkout's are {'a' * 16}: an older "
     "or another build"),
    ({SLSA: {}, CYCLONEDX: {}}, f"its provenance records inputs (none), this checkout's are "
     f"{'a' * 16}: an older or another build"),
])
def test_attestations_vouch_only_for_this_checkouts_inputs(found, expected):
    assert attestation_problem(found, "a" * 64) == expected


@needs_cosign
def test_cosign_pair_is_private_never_overwritten_and_caught_by_the_guard(tmp_path):
    made = provision_cosign_keys(tmp_path, "shop", PASSWORD)
    private, public = cosign_key_paths(tmp_path, "shop")
    assert made == [private, public]
    assert private.stat().st_mode & 0o777 == 0o600
    before = private.read_bytes()
    assert provision_cosign_keys(tmp_path, "shop", "other-password") == []
    assert private.read_bytes() == before
    assert scan_bytes(before, ()) == "a PEM private key"
    public.unlink()
    with pytest.raises(FileExistsError, match="shop_cosign.key exists without its other half"):
        provision_cosign_keys(tmp_path, "shop", PASSWORD)
    assert list(tmp_path.iterdir()) == [private]  # no work folder left behind


@pytest.mark.e2e
@needs_cosign
def test_the_guard_refuses_an_image_holding_the_cosign_key(base_images, tmp_path):
    from axion_build.build.signkeys import cosign_key_material

    provision_cosign_keys(tmp_path / "keys", "shop", PASSWORD)
    key = cosign_key_paths(tmp_path / "keys", "shop")[0]
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "signing.key").write_bytes(key.read_bytes())
    body = [line for line in key.read_text().splitlines() if not line.startswith("-----")]
    (tmp_path / "ctx" / "notes.txt").write_text("\n".join(body[1:]))  # no PEM header left
    (tmp_path / "ctx" / "Dockerfile").write_text(
        f"FROM {base_images[0]}\nCOPY signing.key notes.txt /axion/resource.config/\n")
    tag = f"axion-test-guard:cosign-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path / "ctx")], check=True,
                   capture_output=True)
    try:
        found = guard_image(tag, cosign_key_material(key), tmp_path / "clean.json")
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    assert sorted((f.place.rsplit(" ", 1)[-1], f.what) for f in found) == [
        ("/axion/resource.config/notes.txt", "a configured secret value"),
        ("/axion/resource.config/signing.key", "a PEM private key")]


# --- one pipeline, real engine, registry and cosign ------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory, base_images):
    """The shop app pushed, signed and attested under a namespace of its own."""
    if shutil.which("cosign") is None:
        missing("no cosign CLI (scripts/provision.sh install_cosign)")
    namespace = f"supply-{uuid.uuid4().hex[:8]}"
    ws = registry_workspace(tmp_path_factory.mktemp("supply"), REGISTRY, namespace)
    done = ws.doit("push:shop", check=True, AXION_SIGNING_PASSWORD=PASSWORD)
    ws.run_output = done.stdout + done.stderr
    ws.namespace = namespace
    return ws


def registry_spec() -> RegistrySpec:
    return RegistrySpec(url=REGISTRY, insecure=True)


def latest(ws, target: str) -> str:
    return manifest_digest(registry_spec(), f"{ws.namespace}/shop-{target}", "latest")


def sbom_of(ws, target: str) -> tuple[str, dict]:
    text = (ws.build / "linux-amd64" / "supply" / f"{target}.cdx.json").read_text()
    return text, json.loads(text)


def verify(ws):
    return ws.doit("verify:shop", AXION_SIGNING_PASSWORD=PASSWORD)


@pytest.mark.e2e
def test_push_signs_and_attests_every_image_by_digest(published):
    assert {f"push:shop:{t}" for t in TARGETS} <= set(ran_tasks(published.run_output))
    client = RegistryClient(f"http://{REGISTRY}")
    for target in TARGETS:
        digest = latest(published, target)
        tags = client.tags(f"{published.namespace}/shop-{target}")
        assert {cosign_tag(digest, ".sig"), cosign_tag(digest, ".att")} <= set(tags), target


@pytest.mark.e2e
def test_sbom_lists_every_compiled_module_with_its_hashes_and_is_valid_cyclonedx(published):
    compiled = published.build / "linux-amd64" / "compiled"
    expected = {}
    for so in sorted(compiled.rglob("*.so")):
        relpath = so.relative_to(compiled).as_posix()
        source = published.app / relpath.removesuffix(".so")
        source = source.with_name(source.name + ".py")
        expected[relpath] = (sha256_file(so), sha256_file(source) if source.is_file() else "")
    assert len(expected) >= 3 and sum(1 for s, src in expected.values() if src) >= 2
    manifest = json.loads((published.build / "linux-amd64" / "compiled.json").read_text())
    for target in ("runtime", "shop", "stock"):
        text, sbom = sbom_of(published, target)
        assert schema_problems(text) == ""
        assert sbom["metadata"]["component"]["version"] == latest(published, target)
        assert module_hashes(sbom) == expected, target
        fingerprints = {p["value"] for c in sbom["components"] for p in c.get("properties", [])
                        if p["name"] == "axion:toolchain-fingerprint"}
        assert fingerprints == {manifest["fingerprint"]}
        counts = component_counts(sbom)
        assert counts["compiled_modules"] == len(expected)
        assert counts["os_packages"] > 50 and counts["python_distributions"] >= 1
        names = {c["name"] for c in sbom["components"]}
        assert {"bash", "libc6"} <= names
    text, caddy = sbom_of(published, "caddy")
    assert schema_problems(text) == "" and component_counts(caddy)["compiled_modules"] == 0


@pytest.mark.e2e
def test_provenance_names_inputs_commit_config_toolchain_and_bases(published):
    from axion_build.adapters import docker

    statement = json.loads((published.build / "linux-amd64" / "supply"
                            / "shop.provenance.json").read_text())
    digest = latest(published, "shop")
    assert statement["subject"][0]["digest"]["sha256"] == digest.removeprefix("sha256:")
    labels = docker.inspect_image("axion-shop:shop")["Config"]["Labels"]
    predicate = statement["predicate"]
    config = predicate["buildConfig"]
    assert config["inputs_hash"] == labels[LABEL_INPUTS]
    assert len(config["config_sha256"]) == 64 and config["toolchain"]["fingerprint"]
    bases = {m["uri"].removeprefix("docker-image:"): "sha256:" + m["digest"]["sha256"]
             for m in predicate["materials"] if m["uri"].startswith("docker-image:")}
    assert bases == json.loads(labels[LABEL_BASES])
    meta = predicate["metadata"]
    assert meta["buildStartedOn"] <= meta["buildFinishedOn"]
    assert predicate["invocation"]["environment"]["git_dirty"] is None  # not a git checkout
    # what the image step recorded: not a git checkout, so no commit time to build at
    assert meta["reproducible"] is False and labels[LABEL_REPRODUCIBLE] == "false"
    assert PASSWORD not in json.dumps(statement) and REDACTED not in json.dumps(statement)


@pytest.mark.e2e
def test_records_keep_signed_and_sbom_counts_per_digest(published):
    script = ("import sys\nfrom axion_build.records.inspect import inspect_command\n"
              "sys.exit(inspect_command('summary', 'shop'))")
    done = subprocess.run([sys.executable, "-c", script], cwd=published.root,
                          env=published.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pushes = {p["service"]: p for p in json.loads(done.stdout)["pushes"]["list"]}
    for target in TARGETS:
        assert pushes[target]["digest"] == latest(published, target)
        assert pushes[target]["signed"] == "yes"
        _, sbom = sbom_of(published, target)
        assert pushes[target]["sbom"] == component_counts(sbom)
    view = overview(registry_spec(), f"{published.namespace}/")
    shown = {t.repository.rsplit("-", 1)[1]: t.signed for t in view.tags if t.tag == "latest"}
    assert shown == dict.fromkeys(TARGETS, True)
    assert not any(t.tag.startswith("sha256-") for t in view.tags)


@pytest.mark.e2e
def test_verify_passes_after_the_pipeline_naming_each_image(published):
    done = verify(published)
    assert done.returncode == 0, done.stdout + done.stderr
    for target in TARGETS:
        ref = f"{REGISTRY}/{published.namespace}/shop-{target}:latest@{latest(published, target)}"
        assert f"ok      {ref}" in done.stdout


@pytest.mark.e2e
def test_no_private_key_in_any_layer_history_label_build_arg_or_report(published):
    from axion_build.adapters import docker
    from axion_build.build.guard import key_material
    from axion_build.build.signkeys import cosign_key_material

    folder = published.app / "data.config"
    pem, cosign_key = key_paths(folder, "shop")[0], cosign_key_paths(folder, "shop")[0]
    material = (*key_material(pem), *cosign_key_material(cosign_key), PASSWORD)
    assert len(material) == 5 and cosign_key.stat().st_mode & 0o777 == 0o600
    for target in TARGETS:
        image = f"{REGISTRY}/{published.namespace}/shop-{target}:latest"
        assert guard_image(image, material, published.root / "clean.json") == [], target
        inspect = json.dumps(docker.inspect_image(image))  # labels, env, command
        history = "\n".join(docker.image_history(image))  # every step, build args included
        for text in (inspect, history):
            assert not any(m in text for m in material) and not PEM_PRIVATE.search(text.encode())
    written = [p for p in published.root.joinpath("build").rglob("*")
               if p.is_file() and p.suffix in (".json", ".html", ".txt", ".sqlite3", ".yaml")]
    assert any(p.name == "shop.cdx.json" for p in written)
    for path in [*written, None]:
        data = published.run_output.encode() if path is None else path.read_bytes()
        assert not any(m.encode() in data for m in material), path
        assert not PEM_PRIVATE.search(data), path


@pytest.mark.e2e
def test_the_scaffold_pins_every_image_to_the_digest_pushed_and_signed(published):
    compose = published.build / "deploy" / "compose" / "compose.yaml"
    done = published.doit("scaffold:shop", check=True)
    assert "images named by tag" not in done.stdout
    services = yaml.safe_load(compose.read_text())["services"]
    assert {name: s["image"] for name, s in services.items()} == {
        t: f"{REGISTRY}/{published.namespace}/shop-{t}@{latest(published, t)}"
        for t in ("shop", "stock", "caddy")}
    assert "AXION_IMAGE_TAG" not in compose.read_text()
    assert "scaffold:shop" in uptodate_tasks(published.doit("scaffold:shop", check=True).stdout)
    # a scaffold whose images were never pushed names them by tag, and says why
    other = published.doit("scaffold:shop", check=True,
                           AXION_REGISTRY_NAMESPACE=f"{published.namespace}-none")
    assert ("images named by tag, not pinned: this build has published no image of shop, "
            "stock, caddy yet; push, then `doit scaffold:shop` pins their digests") in other.stdout
    assert "${AXION_IMAGE_TAG:-latest}" in compose.read_text()
    published.doit("scaffold:shop", check=True)
    assert "@sha256:" in compose.read_text()


@pytest.mark.e2e
def test_another_checkouts_key_is_trusted_only_when_listed(published, tmp_path):
    """A checkout that lists the first's public key in cache.trusted_keys takes the first's
    images unbuilt; one with a cosign key pair of its own that does not list it takes
    nothing the first signed: it builds the images itself and signs them with its key."""
    def forget_local():  # the engine's own copies would make the images current
        for target in ("shop", "stock"):
            subprocess.run(["docker", "rmi", f"axion-shop:{target}"], capture_output=True)

    forget_local()
    third = registry_workspace(tmp_path / "third", REGISTRY, published.namespace)
    shared = cosign_key_paths(published.app / "data.config", "shop")[1]
    with third.config_file.open("a") as config:
        config.write(f"cache:\n  trusted_keys: [{shared}]\n")
    took = third.doit("image:shop", check=True, AXION_SIGNING_PASSWORD=PASSWORD)
    assert "image:shop:stock" in ran_tasks(took.stdout)
    assert "this checkout uses its own build" not in took.stderr
    # taken as the registry holds it: neither built nor pulled into the engine
    absent = subprocess.run(["docker", "image", "inspect", "axion-shop:stock"],
                            capture_output=True)
    assert absent.returncode != 0
    done = verify(third)
    assert done.returncode == 0, done.stdout + done.stderr
    assert latest(published, "stock") in done.stdout

    forget_local()
    other = registry_workspace(tmp_path / "other", REGISTRY, published.namespace)
    first = other.doit("push:shop", check=True, AXION_SIGNING_PASSWORD=PASSWORD)
    keys = [cosign_key_paths(ws.app / "data.config", "shop")[1].read_bytes()
            for ws in (published, other)]
    assert keys[0] != keys[1]
    output = first.stdout + first.stderr
    assert "image:shop:stock" in ran_tasks(first.stdout)
    assert ("its signature is not made by a trusted key): this checkout uses its own build "
            "of it") in output
    assert "the registry holds it" not in output
    done = verify(other)
    assert done.returncode == 0, done.stdout + done.stderr
    # what the other checkout built from the same inputs, the first signs when it pushes
    push(published)
    done = verify(published)
    assert done.returncode == 0, done.stdout + done.stderr


# --- someone who can push to the registry but holds no key of the package -------------

MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.oci.image.manifest.v1+json")


def put_manifest(repo: str, source: str, tag: str) -> str:
    """Put the manifest `repo@source` (or `repo:source`) under `tag` too; its digest."""
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repo}/manifests/{source}",
                                     headers={"Accept": ", ".join(MANIFEST_TYPES)})
    with urllib.request.urlopen(request, timeout=10) as response:
        body, kind = response.read(), response.headers["Content-Type"]
    put = urllib.request.Request(f"http://{REGISTRY}/v2/{repo}/manifests/{tag}", data=body,
                                 method="PUT", headers={"Content-Type": kind})
    urllib.request.urlopen(put, timeout=10).close()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def delete_manifest(repo: str, reference: str) -> None:
    """Delete a manifest (and so every tag on it) from the registry."""
    digest = RegistryClient(f"http://{REGISTRY}").manifest(repo, reference)[1]
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repo}/manifests/{digest}",
                                     method="DELETE")
    urllib.request.urlopen(request, timeout=10).close()


def stock_inputs() -> str:
    from axion_build.adapters import docker

    return docker.inspect_image("axion-shop:stock")["Config"]["Labels"][LABEL_INPUTS]


def push(ws):
    done = ws.doit("push:shop", check=True, AXION_SIGNING_PASSWORD=PASSWORD)
    return done.stdout + done.stderr


@pytest.fixture
def older_stock(published):
    """A signed build of stock from other inputs than this checkout's (its script edited,
    pushed, then the edit undone): (its digest, this checkout's inputs hash)."""
    script = published.app / "ServeStock.py"
    original = script.read_text()
    script.write_text(original + "\n# an older release\n")
    try:
        push(published)
        older = latest(published, "stock")
    finally:
        script.write_text(original)
    published.doit("image:shop", check=True)
    return older, stock_inputs()


@pytest.mark.e2e
def test_a_replayed_older_build_fails_verify_is_rebuilt_and_repaired(published, older_stock,
                                                                      tmp_path):
    older, inputs = older_stock
    repo = f"{published.namespace}/shop-stock"
    for tag in (immutable_tag(inputs), "latest"):
        put_manifest(repo, older, tag)
    done = verify(published)
    assert done.returncode != 0
    assert (f"FAILED  {REGISTRY}/{repo}:latest@{older}: its provenance records inputs "
            in done.stdout and f"this checkout's are {inputs[:16]}" in done.stdout)
    assert f"ok      {REGISTRY}/{published.namespace}/shop-shop:latest@" in done.stdout
    # a fresh checkout, with nothing of it in the engine, does not take the replay
    subprocess.run(["docker", "rmi", "axion-shop:stock"], capture_output=True)
    fresh = registry_workspace(tmp_path / "fresh", REGISTRY, published.namespace)
    fresh_keys = fresh.app / "data.config"
    for path in cosign_key_paths(published.app / "data.config", "shop"):
        shutil.copy2(path, fresh_keys / path.name)
    built = fresh.doit("image:shop", check=True)
    assert "image:shop:stock" in ran_tasks(built.stdout)
    assert ("an older or another build): this checkout uses its own build of it"
            in built.stdout + built.stderr)
    assert stock_inputs() == inputs
    # the push here sees the registry is not this build, and pushes it again
    output = push(published)
    assert "push:shop:stock" in ran_tasks(output)
    assert latest(published, "stock") != older
    assert verify(published).returncode == 0


@pytest.mark.e2e
def test_a_foreign_image_under_this_builds_tag_is_never_taken_nor_signed(published, tmp_path):
    from axion_build.adapters.cosign import CosignError, run_cosign, verify_command

    inputs, repo = stock_inputs(), f"{published.namespace}/shop-stock"
    foreign = f"{REGISTRY}/{repo}:planted"
    subprocess.run(["docker", "tag", base_runtime(), foreign], check=True)
    subprocess.run(["docker", "push", foreign], capture_output=True, check=True)
    planted = put_manifest(repo, "planted", "latest")
    put_manifest(repo, planted, immutable_tag(inputs))
    subprocess.run(["docker", "rmi", "axion-shop:stock"], capture_output=True)
    built = published.doit("image:shop", check=True)
    assert "image:shop:stock" in ran_tasks(built.stdout)
    assert ("(it is not signed): this checkout uses its own build of it"
            in built.stdout + built.stderr)
    output = push(published)
    assert "push:shop:stock" in ran_tasks(output)
    assert latest(published, "stock") != planted
    public = cosign_key_paths(published.app / "data.config", "shop")[1]
    with pytest.raises(CosignError):
        run_cosign(verify_command(public, f"{REGISTRY}/{repo}@{planted}", True))
    assert verify(published).returncode == 0


def base_runtime() -> str:
    from tests.conftest import BASE_IMAGES

    return BASE_IMAGES[0]


@pytest.mark.e2e
def test_verify_names_an_image_missing_from_the_registry(published):
    repo = f"{published.namespace}/shop-caddy"
    delete_manifest(repo, "latest")
    done = verify(published)
    assert done.returncode != 0
    assert (f"FAILED  {REGISTRY}/{repo}:latest: missing from the registry" in done.stdout)
    assert done.stdout.count("ok      ") == len(TARGETS) - 1
    assert "push:shop:caddy" in ran_tasks(push(published))
    assert verify(published).returncode == 0


@pytest.mark.e2e
def test_foreign_attestations_fail_verify_and_the_push_attests_again(published, tmp_path):
    from axion_build.adapters.cosign import attest_command, run_cosign

    repo, digest = f"{published.namespace}/shop-shop", latest(published, "shop")
    delete_manifest(repo, cosign_tag(digest, ".att"))
    provision_cosign_keys(tmp_path / "attacker", "evil", "")
    predicate = tmp_path / "provenance.json"
    statement = json.loads((published.build / "linux-amd64" / "supply"
                            / "shop.provenance.json").read_text())
    predicate.write_text(json.dumps(statement["predicate"]))
    image = f"{REGISTRY}/{repo}@{digest}"
    for kind, path in (("slsaprovenance", predicate),
                       ("cyclonedx", published.build / "linux-amd64" / "supply"
                        / "shop.cdx.json")):
        run_cosign(attest_command(tmp_path / "attacker" / "evil_cosign.key", image, path,
                                  kind, True), "")
    done = verify(published)
    assert done.returncode != 0
    assert (f"FAILED  {REGISTRY}/{repo}:latest@{digest}: no provenance attestation signed "
            "by a trusted key") in done.stdout
    assert "push:shop:shop" in ran_tasks(push(published))
    assert latest(published, "shop") == digest
    assert verify(published).returncode == 0


@pytest.mark.e2e
def test_verify_fails_when_the_sbom_modules_are_not_the_compiled_tree(published):
    module = published.build / "linux-amd64" / "compiled" / "factory.shop" / "ObjCart.so"
    original = module.read_bytes()
    module.unlink()  # a hard link of the build's module: replaced, never edited in place
    module.write_bytes(original + b"\0")
    try:
        done = verify(published)
    finally:
        module.unlink()
        module.write_bytes(original)
    assert done.returncode != 0
    image = f"{REGISTRY}/{published.namespace}/shop-shop:latest@{latest(published, 'shop')}"
    assert (f"FAILED  {image}: SBOM .so sha256 differs from the compiled tree for "
            "factory.shop/ObjCart.so") in done.stdout
    assert f"ok      {REGISTRY}/{published.namespace}/shop-caddy:latest@" in done.stdout
    assert verify(published).returncode == 0


@pytest.mark.e2e
def test_another_image_pushed_under_a_signed_tag_fails_verify_naming_it(published):
    ref = f"{REGISTRY}/{published.namespace}/shop-stock:latest"
    subprocess.run(["docker", "tag", "axion-shop:latest", ref], check=True)
    pushed = subprocess.run(["docker", "push", ref], capture_output=True, text=True, check=True)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout).group(1)
    assert digest == latest(published, "stock")
    done = verify(published)
    assert done.returncode != 0
    assert f"FAILED  {ref}@{digest}: it is not signed" in done.stdout
    assert f"ok      {REGISTRY}/{published.namespace}/shop-shop:latest@" in done.stdout


@pytest.mark.e2e
def test_an_image_whose_signature_is_gone_is_refused(published):
    repo = f"{published.namespace}/shop-shop"
    digest = latest(published, "shop")
    client = RegistryClient(f"http://{REGISTRY}")
    _, sig_digest, _ = client.manifest(repo, cosign_tag(digest, ".sig"))
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repo}/manifests/{sig_digest}",
                                     method="DELETE")
    urllib.request.urlopen(request, timeout=10).close()
    assert cosign_tag(digest, ".sig") not in client.tags(repo)
    done = verify(published)
    assert done.returncode != 0
    assert f"FAILED  {REGISTRY}/{repo}:latest@{digest}: it is not signed" in done.stdout
