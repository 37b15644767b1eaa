import type { Services } from '../services.ts';

/** Removes temp files of uploads that died (crash, cut connection) at start and then periodically. */
export async function startSweeper(services: Services): Promise<() => void> {
  const { blobs, config, log } = services;
  const sweep = async (olderThanMs: number) => {
    const removed = await blobs.sweepTemp(olderThanMs).catch((err: unknown) => {
      log.error({ err }, 'temp sweep failed');
      return 0;
    });
    if (removed > 0) log.info({ removed }, 'removed stale temp files');
  };
  await sweep(config.staleTempMs);
  const timer = setInterval(() => void sweep(config.staleTempMs), config.sweepIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
