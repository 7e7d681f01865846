#!/usr/bin/env python3
"""Write an OCI image layout of hoptrace.wasm that Istio's and Envoy Gateway's `oci://` fetchers accept.

No Docker, no registry, standard library only. The layout (target/oci/hoptrace by default) holds
`oci-layout`, `index.json` and `blobs/sha256/...`; push it with any OCI tool, for example
`skopeo copy oci:target/oci/hoptrace:0.1.0 docker://ghcr.io/OWNER/hoptrace:0.1.0`.

Which format: Istio (pkg/wasm/imagefetcher.go) and Envoy Gateway (internal/wasm/imagefetcher.go)
read exactly two OCI shapes, tried in this order:
  compat    one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm`
            (Solo's "compat" variant: an ordinary image any registry stores);
  artifact  exactly two layers, one `application/vnd.module.wasm.content.layer.v1+wasm` holding the
            raw module and one `application/vnd.module.wasm.config.v1+json` runtime config
            (Solo's "Wasm Artifact Image Specification", the "oci variant" in Istio's code).
The CNCF wasm artifact (`application/vnd.wasm.content.layer.v1+wasm`, config
`application/vnd.wasm.config.v0+json`, one layer) is refused by both ("number of layers must be 2"),
so it is not offered. The default is `artifact`: its wasm layer digest is the sha256 of the .wasm
itself, so anyone can check what a tag holds with `sha256sum`. `--variant compat` is there for a
registry that refuses custom media types.

Output is deterministic: no timestamps, sorted JSON keys, a tar with zeroed metadata and a gzip
stream without a name or mtime, so the same .wasm always gives the same manifest digest.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WASM = ROOT / "target/wasm32-wasip1/release/hoptrace.wasm"
DEFAULT_OUT = ROOT / "target/oci/hoptrace"

WASM_MAGIC = b"\0asm"
ROOT_ID = "hoptrace"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
MT_WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
ANN_TITLE = "org.opencontainers.image.title"
ANN_VERSION = "org.opencontainers.image.version"


class Blob:
    """Bytes stored in the layout under their own digest."""

    def __init__(self, data: bytes):
        self.data = data
        self.digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def descriptor(self, media_type: str, annotations: dict | None = None) -> dict:
        d = {"mediaType": media_type, "digest": self.digest, "size": len(self.data)}
        if annotations:
            d["annotations"] = annotations
        return d


def canonical_json(value) -> bytes:
    """One byte sequence per value, so digests do not depend on dict order or spacing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def workspace_version() -> str:
    """The image tag defaults to the crate version, so a tag always names what was built."""
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def runtime_config() -> Blob:
    # Istio and Envoy Gateway ignore its content; it tells a person (or `wasme`) which root id
    # the module registers, as the Solo spec describes.
    return Blob(
        canonical_json(
            {
                "type": "envoy_proxy",
                "abiVersions": ["proxy_abi_version_0_2_1"],
                "config": {"root_ids": [ROOT_ID]},
            }
        )
    )


def artifact_image(wasm: bytes) -> tuple[list[Blob], dict, Blob]:
    """Solo's Wasm artifact: [runtime config, raw module]. Returns (blobs, manifest, wasm layer)."""
    config = runtime_config()
    module = Blob(wasm)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config.descriptor(MT_WASM_CONFIG),
        "layers": [
            config.descriptor(MT_WASM_CONFIG, {ANN_TITLE: "runtime-config.json"}),
            module.descriptor(MT_WASM_LAYER, {ANN_TITLE: "plugin.wasm"}),
        ],
    }
    return [config, module], manifest, module


def deterministic_tar_gz(name: str, data: bytes) -> tuple[bytes, bytes]:
    """A one-file tar.gz with no owner, time or mode drift. Returns (tar.gz, tar)."""
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
    raw = tar_buf.getvalue()
    gz_buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buf, compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    return gz_buf.getvalue(), raw


def compat_image(wasm: bytes) -> tuple[list[Blob], dict, Blob]:
    """Solo's compat variant: one tar+gzip layer with plugin.wasm. Returns (blobs, manifest, layer)."""
    gz, raw = deterministic_tar_gz("plugin.wasm", wasm)
    layer = Blob(gz)
    config = Blob(
        canonical_json(
            {
                "architecture": "wasm",
                "os": "wasip1",
                "config": {},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()],
                },
            }
        )
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config.descriptor(MT_IMAGE_CONFIG),
        "layers": [layer.descriptor(MT_TAR_GZIP)],
        # The compat spec asks for this annotation on OCI-typed layers.
        "annotations": {"module.wasm.image/variant": "compat"},
    }
    return [config, layer], manifest, layer


def write_layout(out: Path, blobs: list[Blob], manifest: Blob, tag: str) -> None:
    """Write the layout next to `out` and swap it in, so a failed run leaves no half layout."""
    if out.exists() and not (out / "oci-layout").is_file() and any(out.iterdir()):
        sys.exit(f"oci-layout: {out} exists and is not an OCI layout; refusing to replace it")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "blobs/sha256").mkdir(parents=True)
    for blob in [*blobs, manifest]:
        (tmp / "blobs/sha256" / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    (tmp / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [manifest.descriptor(MT_MANIFEST, {ANN_REF_NAME: tag})],
    }
    (tmp / "index.json").write_bytes(canonical_json(index))
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wasm", type=Path, default=DEFAULT_WASM, help="module (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="layout dir (default: %(default)s)")
    ap.add_argument("--tag", help="image tag (default: the workspace version in Cargo.toml)")
    ap.add_argument("--variant", choices=["artifact", "compat"], default="artifact")
    args = ap.parse_args()

    if not args.wasm.is_file():
        print(f"oci-layout: {args.wasm} not found; build it with `make wasm`", file=sys.stderr)
        return 1
    wasm = args.wasm.read_bytes()
    if not wasm.startswith(WASM_MAGIC):
        print(f"oci-layout: {args.wasm} is not a Wasm module (no \\0asm magic)", file=sys.stderr)
        return 1
    tag = args.tag or workspace_version()

    build = artifact_image if args.variant == "artifact" else compat_image
    blobs, manifest_value, layer = build(wasm)
    manifest = Blob(canonical_json(manifest_value))
    write_layout(args.out, blobs, manifest, tag)

    layer_type = manifest_value["layers"][-1]["mediaType"]
    print(f"layout:   {args.out}")
    print(f"ref:      oci:{args.out}:{tag}")
    print(f"variant:  {args.variant}")
    print(f"manifest: {manifest.digest}")
    print(f"layer:    {layer.digest} ({layer_type})")
    print(f"wasm:     sha256:{hashlib.sha256(wasm).hexdigest()} ({len(wasm)} bytes)")
    print(f"push:     skopeo copy oci:{args.out}:{tag} docker://ghcr.io/OWNER/hoptrace:{tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
