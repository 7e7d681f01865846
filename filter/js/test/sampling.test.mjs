// Sampling decisions and `th` for thousands of trace ids at several ratios: the package equals
// hoptrace-core (target/js-vectors/sampling.json), and both equal OpenTelemetry JS's own
// consistent probability sampler (@opentelemetry/sampler-composite) on the same ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import {
  createCompositeSampler,
  createComposableProbabilitySampler,
} from '@opentelemetry/sampler-composite';
import { load, quiet, vectors } from './common.mjs';

const { create } = await load();
const { ids, ratios } = vectors('sampling.json');

test('a few thousand ids per ratio', () => {
  assert.ok(ids.length > 4000 && ratios.length >= 8);
});

for (const { ratio, config, sampled, tracestate } of ratios) {
  test(`ratio ${ratio}: the package decides as hoptrace-core`, () => {
    const tracer = create(config, quiet);
    let got = '';
    for (const id of ids) {
      const hop = tracer.start([['traceparent', `00-${id}-00f067aa0ba902b7-03`]], { kind: 'server' });
      got += hop.sampled ? '1' : '0';
      if (hop.sampled) assert.equal(hop.headers.tracestate, tracestate, id);
      else assert.equal(hop.headers.tracestate, undefined, id);
      hop.end({ status: 200 });
    }
    assert.equal(got, sampled);
    tracer.shutdown(0);
  });

  test(`ratio ${ratio}: OpenTelemetry JS's ComposableProbabilitySampler agrees`, () => {
    const otel = createCompositeSampler(createComposableProbabilitySampler(ratio));
    let got = '';
    for (const [i, id] of ids.entries()) {
      const result = otel.shouldSample(ROOT_CONTEXT, id, 'GET', SpanKind.SERVER, {}, []);
      const yes = result.decision === 2; // RECORD_AND_SAMPLED
      got += yes ? '1' : '0';
      if (yes) assert.equal(`ot=${result.traceState.get('ot')}`, tracestate, `${i} ${id}`);
    }
    assert.equal(got, sampled);
  });
}
