#!/usr/bin/env bash
# Installs wasm-bindgen-cli VERSION from crates.io into ROOT (ROOT/bin/wasm-bindgen), with the
# dependency versions of the crate's own Cargo.lock (`--locked`). The CLI must match the
# wasm-bindgen crate in our Cargo.lock exactly, so no other version will do.
#
# If the registry lacks a version that lock pins (a mirror can trail crates.io), the lock is moved,
# for that dependency alone, to the lowest version its requirement allows, and the install is
# repeated from a copy of the crate source, still `--locked`.
set -euo pipefail
version=$1
root=$2
bin=$root/bin/wasm-bindgen
if [ -x "$bin" ] && [ "$("$bin" --version)" = "wasm-bindgen $version" ]; then exit 0; fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if cargo install --locked --quiet --root "$root" wasm-bindgen-cli --version "$version" 2>"$log"; then exit 0; fi
grep -q 'failed to select a version' "$log" || { cat "$log" >&2; exit 1; }

src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasm-bindgen-cli-"$version" | head -1)
copy=$root/src/wasm-bindgen-cli-$version
rm -rf "$copy" && mkdir -p "$root/src" && cp -r "$src" "$copy"
# Not a member of the workspace the copy sits under.
printf '\n[workspace]\n' >> "$copy/Cargo.toml"
for _ in 1 2 3 4 5; do
	if (cd "$copy" && cargo fetch --locked 2>"$log"); then
		cargo install --locked --quiet --root "$root" --path "$copy" --target-dir "$root/build"
		exit 0
	fi
	# e.g. failed to select a version for the requirement `webpki-roots = "^1.0.10"` (locked to 1.0.11)
	dep=$(sed -n 's/.*requirement `\([A-Za-z0-9_-]*\) = "^\([0-9.]*\)"`.*/\1 \2/p' "$log" | head -1)
	[ -n "$dep" ] || { cat "$log" >&2; exit 1; }
	set -- $dep
	echo "wasm-bindgen-cli: $1 pinned version missing from the registry; using $2" >&2
	(cd "$copy" && cargo update --quiet -p "$1" --precise "$2")
done
cat "$log" >&2
exit 1
