import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsScrape, parsePrometheusText } from './metrics-scrape.js';

test('the Prometheus text format is read into samples, labels unescaped, sums by label subset', () => {
  const text = [
    '# HELP vigil_x_total things',
    '# TYPE vigil_x_total counter',
    'vigil_x_total{cause="client-lost",node="n1"} 2',
    'vigil_x_total{cause="node-lost",node="n1"} 3 1700000000000',
    'vigil_y{path="a\\"b\\\\c"} 1.5',
    'vigil_h_bucket{le="+Inf"} 4',
    'vigil_up 1',
    '',
  ].join('\n');
  const samples = parsePrometheusText(text);
  assert.equal(samples.length, 5);
  assert.deepEqual(samples[2], { name: 'vigil_y', labels: { path: 'a"b\\c' }, value: 1.5 });
  const scrape = new MetricsScrape(samples);
  assert.equal(scrape.value('vigil_x_total'), 5);
  assert.equal(scrape.value('vigil_x_total', { cause: 'client-lost' }), 2);
  assert.equal(scrape.value('vigil_x_total', { cause: 'kicked' }), 0);
  assert.equal(scrape.value('vigil_up'), 1);
});

test('an unreadable line is refused, naming it', () => {
  assert.throws(() => parsePrometheusText('vigil_x{a="1"'), /unreadable metrics line/);
});
