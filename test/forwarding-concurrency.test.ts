import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccountWindows, ConcurrencyWindow, type Slot } from '../src/forwarding/concurrency.ts';

const adaptive = (max = 16, initial = 4) => new ConcurrencyWindow({ max, initial, adaptive: true });

/** Take every free slot of the window. */
function fill(window: ConcurrencyWindow): Slot[] {
  const slots: Slot[] = [];
  for (let slot = window.tryAcquire(); slot; slot = window.tryAcquire()) slots.push(slot);
  return slots;
}

/** One round trip: fill the window, and every request answers in `ms` with `outcome`. */
function roundTrip(window: ConcurrencyWindow, outcome: 'ok' | 'congested' | 'other', ms = 100): number {
  const slots = fill(window);
  for (const slot of slots) slot.release(outcome, ms);
  return slots.length;
}

describe('adaptive upload concurrency (AIMD window)', () => {
  it('starts at the initial window and never hands out more slots than it holds', () => {
    const w = adaptive();
    assert.equal(w.limit, 4);
    assert.equal(fill(w).length, 4);
    assert.equal(w.tryAcquire(), null);
    assert.equal(w.active, 4);
  });

  it('slow start: a full window of prompt answers doubles it, up to the ceiling and no further', () => {
    const w = adaptive(16, 4);
    assert.equal(roundTrip(w, 'ok'), 4);
    assert.equal(w.limit, 8);
    roundTrip(w, 'ok');
    assert.equal(w.limit, 16);
    roundTrip(w, 'ok');
    assert.equal(w.limit, 16);
  });

  it('an unused window does not grow: prompt answers with free slots prove nothing', () => {
    const w = adaptive(16, 4);
    for (let i = 0; i < 50; i++) w.tryAcquire()!.release('ok', 100);
    assert.equal(w.limit, 4);
  });

  it('slow answers hold the window: Google is queueing our requests', () => {
    const w = adaptive(16, 4);
    roundTrip(w, 'ok', 100);
    assert.equal(w.limit, 8);
    roundTrip(w, 'ok', 250); // more than twice the fastest recent answer
    assert.equal(w.limit, 8);
  });

  it('a 429 or 5xx halves the window once per window, and never below one', () => {
    const w = adaptive(16, 4);
    roundTrip(w, 'ok');
    roundTrip(w, 'ok');
    assert.equal(w.limit, 16);
    const inFlight = fill(w);
    // Sixteen requests in flight all meet the storm: one congestion event, one cut.
    for (const slot of inFlight) slot.release('congested');
    assert.equal(w.limit, 8);
    // Each later window meets it again: halved each time, down to the floor.
    for (const expected of [4, 2, 1, 1, 1]) {
      roundTrip(w, 'congested');
      assert.equal(w.limit, expected);
    }
  });

  it('after a cut it grows one slot per window (congestion avoidance), not by doubling', () => {
    const w = adaptive(32, 4);
    roundTrip(w, 'ok');
    roundTrip(w, 'ok');
    assert.equal(w.limit, 16);
    roundTrip(w, 'congested');
    assert.equal(w.limit, 8);
    // Each window of answers adds about one slot (1/limit per answer), where slow start would have doubled.
    roundTrip(w, 'ok');
    roundTrip(w, 'ok');
    assert.ok(w.limit >= 9 && w.limit <= 10, `limit ${w.limit}`);
  });

  it('recovers after a storm: from the floor back to the ceiling on prompt answers', () => {
    const w = adaptive(16, 4);
    for (let i = 0; i < 5; i++) roundTrip(w, 'congested');
    assert.equal(w.limit, 1);
    let trips = 0;
    while (w.limit < 16 && trips < 200) {
      roundTrip(w, 'ok');
      trips++;
    }
    assert.equal(w.limit, 16);
    assert.ok(trips < 200);
  });

  it('other outcomes (a permanent refusal, a local error) neither grow nor cut it', () => {
    const w = adaptive(16, 4);
    roundTrip(w, 'other');
    assert.equal(w.limit, 4);
  });

  it('waiters get slots in order as they are released; a second release of one slot is harmless', async () => {
    const w = adaptive(16, 1);
    const first = w.tryAcquire()!;
    const order: number[] = [];
    const waiting = [1, 2].map((n) => w.acquire().then((slot) => (order.push(n), slot)));
    assert.equal(w.waiting, 2);
    first.release('other');
    first.release('other');
    const second = await waiting[0]!;
    assert.deepEqual(order, [1]);
    assert.equal(w.active, 1);
    second.release('other');
    (await waiting[1]!).release('other');
    assert.deepEqual(order, [1, 2]);
    assert.equal(w.active, 0);
  });

  it('admits twice its limit in jobs (in flight, in line, or getting ready); the rest step back', async () => {
    const w = adaptive(16, 4);
    const tickets = Array.from({ length: 8 }, () => w.admit());
    assert.ok(tickets.every(Boolean));
    assert.equal(w.admit(), null, 'a ninth job is not admitted');
    const slots = await Promise.all(tickets.slice(0, 4).map((t) => t!.acquire()));
    assert.equal(w.active, 4);
    assert.equal(w.admit(), null, 'four in flight and four admitted still fill it');
    tickets[7]!.leave();
    tickets[7]!.leave();
    const ninth = w.admit();
    assert.ok(ninth, 'a job that left makes room, once');
    assert.equal(w.admit(), null);
    const waiting = tickets[4]!.acquire();
    assert.equal(w.waiting, 1);
    slots[0]!.release('other');
    (await waiting).release('other');
    tickets[4]!.leave(); // after acquire: harmless
    assert.equal(w.admit() !== null, true);
  });

  it('fixed mode: the ceiling from the start, whatever Google answers', () => {
    const w = new ConcurrencyWindow({ max: 4, initial: 4, adaptive: false });
    for (let i = 0; i < 5; i++) roundTrip(w, 'ok');
    assert.equal(w.limit, 4);
    roundTrip(w, 'congested');
    assert.equal(w.limit, 4);
  });

  it('the worker takes as many jobs as the windows serve, and hears when that changes', () => {
    const windows = new AccountWindows({ max: 16, initial: 4, adaptive: true });
    let heard = 0;
    windows.onResize(() => heard++);
    assert.equal(windows.admissible(), 8, 'before any account: what a new window serves');
    roundTrip(windows.of('a'), 'ok');
    assert.equal(windows.admissible(), 16);
    windows.of('b');
    assert.equal(windows.admissible(), 24);
    assert.ok(heard >= 2);
    const before = heard;
    roundTrip(windows.of('a'), 'congested');
    assert.equal(windows.admissible(), 16);
    assert.equal(heard, before + 1);
  });

  it('one window per account: a storm on one account does not shrink another', () => {
    const windows = new AccountWindows({ max: 16, initial: 4, adaptive: true });
    roundTrip(windows.of('a'), 'ok');
    roundTrip(windows.of('b'), 'ok');
    roundTrip(windows.of('a'), 'congested');
    assert.equal(windows.of('a').limit, 4);
    assert.equal(windows.of('b').limit, 8);
    assert.deepEqual(windows.limits(), new Map([['a', 4], ['b', 8]]));
  });
});
