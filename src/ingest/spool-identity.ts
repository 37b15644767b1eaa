import { randomUUID } from 'node:crypto';
import type { Ledger } from '../ledger/ledger.ts';
import type { BlobStore } from './blob-store.ts';
import { StartRefused } from '../ops/start-refused.ts';

export const SPOOL_ID_KEY = 'spool_id';

export class SpoolIdentityError extends StartRefused {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolIdentityError';
  }
}

/**
 * Settle which spool this is before anything reads or writes it. The spool carries an id (a marker file) that the
 * ledger also records at first start. A start on a spool whose marker is missing or different, while the ledger holds
 * blobs, is refused: that is a volume that did not mount, a typo in SPOOL_DIR, another installation's disk. Going on
 * would make every stored photo look missing, fail its delivery and, back on the right spool, let the sweeper delete
 * it. The spool root is not created in that case either, so a missing mount stays visibly missing.
 */
export async function openSpool(blobs: BlobStore, ledger: Ledger): Promise<string> {
  const marker = await blobs.readMarker();
  const recorded = await ledger.settings.get(SPOOL_ID_KEY);
  if (marker && marker === recorded) return settle(blobs, marker);

  const held = await ledger.blobs.countStored();
  if (held > 0) {
    if (recorded === null && marker === null) {
      // The ledger predates spool identities: this version's first start adopts the spool it is given, if it exists
      // and looks like one (a blobs folder), and refuses an empty or absent directory.
      if (!(await blobs.looksUsed())) throw refusal(blobs, held, 'it has no blobs folder and no identity marker');
      return settle(blobs, await claim(blobs, ledger));
    }
    if (recorded === null && marker) return settle(blobs, await ledger.settings.setOnce(SPOOL_ID_KEY, marker));
    if (marker === null) throw refusal(blobs, held, `its identity marker (${blobs.markerPath}) is missing; this ledger's spool is ${recorded}`);
    throw refusal(blobs, held, `it is spool ${marker}, but this ledger's spool is ${recorded}`);
  }

  // The ledger holds no bytes: nothing can be lost, so this spool becomes the ledger's.
  if (marker) {
    await ledger.settings.replace(SPOOL_ID_KEY, marker);
    return settle(blobs, marker);
  }
  const id = await claim(blobs, ledger, recorded ?? undefined);
  return settle(blobs, id);
}

/** Write a marker (ours, or the one another process of this relay wrote a moment earlier) and record it. */
async function claim(blobs: BlobStore, ledger: Ledger, preferred?: string): Promise<string> {
  await blobs.writeMarker(preferred ?? randomUUID());
  const marker = (await blobs.readMarker())!;
  const recorded = await ledger.settings.setOnce(SPOOL_ID_KEY, marker);
  if (recorded !== marker) await ledger.settings.replace(SPOOL_ID_KEY, marker);
  return marker;
}

async function settle(blobs: BlobStore, id: string): Promise<string> {
  blobs.identity = id;
  await blobs.init();
  return id;
}

function refusal(blobs: BlobStore, held: number, why: string): SpoolIdentityError {
  return new SpoolIdentityError(
    `the spool at ${blobs.root} is not this relay's spool (${why}), and the database holds ${held} stored ` +
      `file(s). Check that the volume holding the spool is mounted and that SPOOL_DIR points at it; nothing was changed.`,
  );
}
