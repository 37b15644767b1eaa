import type { FastifyReply, FastifyRequest } from 'fastify';
import { device } from '../http/auth.ts';
import type { Services } from '../services.ts';
import { ignoreBody } from './body.ts';
import { badRequest, conflict, forbidden, notFound, preconditionFailed } from './errors.ts';
import { registerHeld } from './ledger.ts';
import { checkRebasedLength, isFinalPath, isWithin, pathOfDestination, mountOf, pathOfRequest, rebase, ROOT } from './paths.ts';
import { parseMtime } from './props.ts';
import {
  checkAncestors,
  checkRoom,
  copyTree,
  countBelow,
  ensureParents,
  filesWithin,
  findEntry,
  longestPathWithin,
  moveTree,
  removeTree,
  setAssets,
  setMtime,
  withView,
} from './view-store.ts';

/**
 * MOVE and COPY. Apps upload under a temporary name and rename when the upload is complete: the rename is where a
 * file becomes an asset. Every file that lands under a final name without being an asset yet (the renamed file, or
 * the files of a renamed folder) is registered from the bytes the relay already holds, before the view changes:
 * if the view update then fails, the client retries and the registration finds its asset again. Moving an asset's
 * file elsewhere, or to a temporary name, changes only the view: the ledger never forgets an asset.
 */
export function moveHandler(services: Services, method: 'MOVE' | 'COPY') {
  return async function moveOrCopy(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const dev = device(request);
    const from = pathOfRequest(request);
    const to = pathOfDestination(request.headers.destination, mountOf(request).root);
    const overwrite = overwriteOf(request.headers.overwrite);
    const shallow = method === 'COPY' && request.headers.depth === '0';
    if (from === ROOT) throw forbidden(`The root cannot be ${method === 'MOVE' ? 'moved' : 'copied'}`);
    if (to === ROOT) throw forbidden('The root cannot be replaced');
    if (isWithin(to, from)) throw forbidden('The destination lies within the source');
    if (isWithin(from, to)) throw conflict('The destination is a folder above the source');

    const source = await findEntry(services.db, dev.id, from);
    if (!source) throw notFound(`${from} does not exist`);
    const target = await findEntry(services.db, dev.id, to);
    if (target && !overwrite) throw preconditionFailed(`${to} exists and Overwrite is F`);
    await checkAncestors(services.db, dev.id, to);
    if (!shallow) checkRebasedLength(await longestPathWithin(services.db, dev.id, from), from, to);
    const limit = services.config.davMaxEntries;
    // A COPY adds the whole subtree (less what it replaces): refuse before any work when it cannot fit (checked
    // again, exactly, below).
    if (method === 'COPY') {
      const adding =
        (shallow ? 1 : 1 + (await countBelow(services.db, dev.id, from))) - (target ? 1 + (await countBelow(services.db, dev.id, to)) : 0);
      await checkRoom(services.db, dev.id, limit, adding);
    }
    const mtime = parseMtime(first(request.headers['x-oc-mtime']));

    // Register what becomes a finished file, from the bytes already held (idempotent, so safe before the view moves).
    const files = source.kind === 'file' ? [source] : shallow ? [] : await filesWithin(services.db, dev.id, from);
    const assets = new Map<string, string>();
    for (const file of files) {
      const dest = rebase(file.path, from, to);
      if (file.assetId || !isFinalPath(dest) || !file.blobSha256) continue;
      const fileMtime = source.kind === 'file' && mtime ? mtime : file.mtime;
      assets.set(dest, await registerHeld(services, dev, file.blobSha256, dest, fileMtime));
    }

    const replaced = await withView(services, dev.id, async (tx) => {
      if (!(await findEntry(tx, dev.id, from))) throw notFound(`${from} does not exist`);
      // Entries may have arrived below the source since the check above.
      if (!shallow) checkRebasedLength(await longestPathWithin(tx, dev.id, from), from, to);
      const existed = (await removeTree(tx, dev.id, to)) > 0;
      if (existed && !overwrite) throw preconditionFailed(`${to} exists and Overwrite is F`);
      await ensureParents(tx, dev.id, to);
      if (method === 'MOVE') await moveTree(tx, dev.id, from, to);
      else {
        await copyTree(tx, dev.id, from, to, shallow);
        // Exact, under the view lock (folders created above the destination count too): over the limit, it rolls back.
        await checkRoom(tx, dev.id, limit);
      }
      await setAssets(tx, dev.id, assets);
      if (mtime && source.kind === 'file') await setMtime(tx, services.ledger.assets, dev.id, to, mtime);
      return existed;
    });
    if (mtime && source.kind === 'file') reply.header('x-oc-mtime', 'accepted');
    return reply.code(replaced ? 204 : 201).send();
  };
}

function overwriteOf(header: string | string[] | undefined): boolean {
  const value = first(header)?.trim().toUpperCase();
  if (value === undefined || value === 'T') return true;
  if (value === 'F') return false;
  throw badRequest('Overwrite must be T or F');
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
