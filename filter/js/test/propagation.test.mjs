// The shared propagation table (tests/cases/propagation.json) through the package: for every row
// and both id seeds, the upstream header lines equal what hoptrace-core produced natively
// (target/js-vectors/propagation.json, written by `cargo test -p hoptrace-js --test vectors`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, quiet, seed, vectors } from './common.mjs';

const { create } = await load();
const table = vectors('propagation.json');

test('the table has all its rows', () => {
  assert.ok(table.cases.length >= 60, `${table.cases.length} rows`);
});

for (const row of table.cases) {
  test(row.name, () => {
    for (const [s, want] of Object.entries(row.upstream)) {
      const tracer = create(row.config, { ...quiet, seed: seed(Number(s)) });
      const hop = tracer.start(row.request, { kind: 'server' });
      const lower = row.request.map(([k, v]) => [k.toLowerCase(), v]);
      assert.deepEqual(hop.inject(lower), want, `seed ${s}`);
      hop.end({ status: 200 });
      tracer.shutdown(0);
    }
  });
}
