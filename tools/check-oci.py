#!/usr/bin/env python3
"""Check the OCI layout written by tools/oci-layout.py with a real OCI tool (skopeo).

Our own writer cannot be trusted to judge its own output, so skopeo reads the layout and copies
it (oci: -> dir:), and then every blob skopeo wrote is checked against its digest, the manifest
against the digest in index.json, and the module inside the image against the .wasm we built:
- artifact variant: the `application/vnd.module.wasm.content.layer.v1+wasm` layer's digest must be
  the sha256 of the .wasm (and so must its bytes);
- compat variant: `plugin.wasm` inside the tar+gzip layer must equal the .wasm.
The layer shape is checked against what Istio's and Envoy Gateway's fetchers accept.

`--install` installs skopeo from Debian when it is missing (needs root and apt-get). Exit status
0 = all checks passed, 1 = a check failed, 2 = skopeo is missing (and --install was not given).
"""

import argparse
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WASM = ROOT / "target/wasm32-wasip1/release/hoptrace.wasm"
DEFAULT_LAYOUT = ROOT / "target/oci/hoptrace"

MT_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
MT_WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
ANN_REF_NAME = "org.opencontainers.image.ref.name"


class CheckFailed(Exception):
    """A check that failed, with what was expected and what was found."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ensure_skopeo(install: bool) -> str | None:
    path = shutil.which("skopeo")
    if path or not install:
        return path
    print("check-oci: skopeo missing; installing it from Debian (apt-get install skopeo)")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "skopeo"], check=True, env=env)
    return shutil.which("skopeo")


def skopeo(bin_: str, *args: str) -> bytes:
    # --insecure-policy: a local oci: -> dir: copy needs no signature policy, and a machine
    # without /etc/containers/policy.json would otherwise refuse the copy.
    cmd = [bin_, "--insecure-policy", *args]
    run = subprocess.run(cmd, capture_output=True)
    if run.returncode != 0:
        raise CheckFailed(f"`{' '.join(cmd)}` failed:\n{run.stderr.decode(errors='replace')}")
    return run.stdout


def tag_of(layout: Path) -> str:
    """The only tag in index.json (oci-layout.py writes one)."""
    index = json.loads((layout / "index.json").read_text())
    tags = [m.get("annotations", {}).get(ANN_REF_NAME) for m in index["manifests"]]
    if len(tags) != 1 or not tags[0]:
        raise CheckFailed(f"{layout}/index.json: expected exactly one tagged manifest, got {tags}")
    return tags[0]


def manifest_digest_in_index(layout: Path, tag: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    for m in index["manifests"]:
        if m.get("annotations", {}).get(ANN_REF_NAME) == tag:
            return m["digest"]
    raise CheckFailed(f"{layout}/index.json has no manifest tagged {tag}")


def plugin_wasm_in(layer: bytes) -> bytes:
    """The `plugin.wasm` member of a compat layer, found the way Istio finds it (by base name)."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer)), mode="r:") as tar:
        for member in tar.getmembers():
            if Path(member.name).name == "plugin.wasm" and member.isfile():
                f = tar.extractfile(member)
                if f is not None:
                    return f.read()
    raise CheckFailed("compat layer has no plugin.wasm")


def check(layout: Path, wasm_path: Path, skopeo_bin: str) -> list[str]:
    """Run every check; return what was verified, one line each. Raises CheckFailed."""
    done = []
    wasm = wasm_path.read_bytes()
    tag = tag_of(layout)
    ref = f"oci:{layout}:{tag}"

    raw = skopeo(skopeo_bin, "inspect", "--raw", ref)
    want_manifest = manifest_digest_in_index(layout, tag)
    if sha256(raw) != want_manifest:
        raise CheckFailed(f"skopeo inspect --raw: manifest {sha256(raw)} != index {want_manifest}")
    manifest = json.loads(raw)
    done.append(f"skopeo inspect --raw {ref}: manifest {want_manifest}")

    with tempfile.TemporaryDirectory(prefix="hoptrace-oci-") as tmp:
        copy = Path(tmp) / "copy"
        skopeo(skopeo_bin, "copy", "--quiet", ref, f"dir:{copy}")
        copied = (copy / "manifest.json").read_bytes()
        if sha256(copied) != want_manifest:
            raise CheckFailed(f"skopeo copy rewrote the manifest: {sha256(copied)} != {want_manifest}")
        blobs = {}
        for desc in [manifest["config"], *manifest["layers"]]:
            path = copy / desc["digest"].removeprefix("sha256:")
            if not path.is_file():
                raise CheckFailed(f"skopeo copy wrote no blob for {desc['digest']}")
            data = path.read_bytes()
            if sha256(data) != desc["digest"] or len(data) != desc["size"]:
                raise CheckFailed(f"blob {desc['digest']}: content does not match its descriptor")
            blobs[desc["digest"]] = data
        done.append(f"skopeo copy {ref} dir:: {len(blobs)} blobs, each matching its digest")

    layers = manifest["layers"]
    types = [layer["mediaType"] for layer in layers]
    if MT_WASM_LAYER in types:
        # Istio/Envoy Gateway "oci variant": exactly two layers, one of them the raw module.
        if len(layers) != 2 or MT_WASM_CONFIG not in types:
            raise CheckFailed(f"artifact image must have a config and a wasm layer, got {types}")
        layer = next(layer for layer in layers if layer["mediaType"] == MT_WASM_LAYER)
        if layer["digest"] != sha256(wasm):
            raise CheckFailed(
                f"wasm layer digest {layer['digest']} != sha256 of {wasm_path} {sha256(wasm)}"
            )
        if blobs[layer["digest"]] != wasm:
            raise CheckFailed("wasm layer bytes differ from the .wasm")
        done.append(f"wasm layer {layer['digest']} == sha256sum {wasm_path.name}")
    elif types == [MT_TAR_GZIP]:
        # Istio/Envoy Gateway "compat variant": one tar+gzip layer holding plugin.wasm.
        inner = plugin_wasm_in(blobs[layers[0]["digest"]])
        if inner != wasm:
            raise CheckFailed(f"plugin.wasm in the layer ({sha256(inner)}) != {sha256(wasm)}")
        done.append(f"plugin.wasm in layer {layers[0]['digest']} == sha256sum {wasm_path.name}")
    else:
        raise CheckFailed(f"layers {types} are in no format Istio or Envoy Gateway accepts")
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", type=Path, default=DEFAULT_LAYOUT, help="default: %(default)s")
    ap.add_argument("--wasm", type=Path, default=DEFAULT_WASM, help="default: %(default)s")
    ap.add_argument("--install", action="store_true", help="apt-get install skopeo if missing")
    args = ap.parse_args()

    for path, hint in [(args.wasm, "make wasm"), (args.layout / "index.json", "make oci")]:
        if not path.is_file():
            print(f"check-oci: {path} not found; run `{hint}`", file=sys.stderr)
            return 1
    skopeo_bin = ensure_skopeo(args.install)
    if not skopeo_bin:
        print("check-oci: skopeo not found (apt-get install skopeo, or pass --install)", file=sys.stderr)
        return 2
    try:
        for line in check(args.layout.resolve(), args.wasm, skopeo_bin):
            print(f"ok: {line}")
    except CheckFailed as e:
        print(f"check-oci: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
