// Where the tests find the built package and the core's vectors, failing with the command that
// makes whichever is missing.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../../..');
export const pkgDir = path.join(root, 'target/js/hoptrace');
export const vectorsDir = path.join(root, 'target/js-vectors');

/** The built package's directory; throws naming `make js` when it is missing. */
export function packageDir() {
  if (!existsSync(path.join(pkgDir, 'package.json'))) {
    throw new Error(`${pkgDir} is missing: run \`make js\` first`);
  }
  return pkgDir;
}

/** One of the JSON files hoptrace-core wrote; throws naming the command that writes it. */
export function vectors(name) {
  const file = path.join(vectorsDir, name);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: run \`cargo test -p hoptrace-js --test vectors\` first`);
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The package, as `import` loads it. */
export async function load() {
  return import(path.join(packageDir(), 'index.mjs'));
}

/** `n` bytes all equal to `b`: the seeds the core's vectors were made with. */
export function seed(b) {
  return new Uint8Array(32).fill(b);
}

/** create() options for tests that look at decisions only: exports answered at once, no logs. */
export const quiet = {
  fetch: async () => new Response(null, { status: 200 }),
  log: () => {},
};
