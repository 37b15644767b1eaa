import assert from 'node:assert/strict';
import { it } from 'node:test';
import { quotaDay, quotaResetsAt } from '../src/forwarding/quota-day.ts';

it('the quota day follows Pacific time, through both DST switches', () => {
  assert.equal(quotaDay(new Date('2026-01-15T07:59:00Z')), '2026-01-14');
  assert.equal(quotaDay(new Date('2026-01-15T08:00:00Z')), '2026-01-15');
  assert.equal(quotaResetsAt(new Date('2026-01-15T12:00:00Z')).toISOString(), '2026-01-16T08:00:00.000Z');
  assert.equal(quotaResetsAt(new Date('2026-07-01T12:00:00Z')).toISOString(), '2026-07-02T07:00:00.000Z');
  // The night clocks spring forward (8 March 2026): midnight of the 9th is already PDT.
  assert.equal(quotaResetsAt(new Date('2026-03-08T20:00:00Z')).toISOString(), '2026-03-09T07:00:00.000Z');
  // And fall back (1 November 2026): midnight of the 2nd is PST.
  assert.equal(quotaResetsAt(new Date('2026-11-01T20:00:00Z')).toISOString(), '2026-11-02T08:00:00.000Z');
});
