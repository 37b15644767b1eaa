import { createReadStream } from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { MediaFile } from './media-files.ts';
import type { UploadResult } from './multipart.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(
  agent: http.Agent,
  url: string,
  method: string,
  headers: Record<string, string>,
  file?: { path: string; start: number; end: number },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (!file) {
      req.end();
      return;
    }
    pipeline(createReadStream(file.path, { start: file.start, end: file.end, highWaterMark: 1024 * 1024 }), req).catch(reject);
  });
}

/**
 * One file through the resumable endpoint (tus 1.0): a creation, then PATCHes of `chunkBytes` (Infinity: one PATCH)
 * streamed from disk over one keep-alive connection, as tus-js-client and browsers send them. Timed from the
 * creation to the last answer. The body is the asset id's lookup-free answer.
 */
export async function uploadResumable(
  baseUrl: string,
  file: MediaFile,
  token: string,
  deviceAssetId: string,
  chunkBytes: number,
): Promise<UploadResult & { assetId: string | undefined }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const auth = { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' };
  try {
    const started = performance.now();
    const meta = `deviceAssetId ${Buffer.from(deviceAssetId).toString('base64')},fileName ${Buffer.from(file.name).toString('base64')}`;
    const created = await request(agent, `${baseUrl}/api/v1/uploads`, 'POST', {
      ...auth,
      'upload-length': String(file.size),
      'upload-metadata': meta,
    });
    if (created.status !== 201) return { status: created.status, body: created.text, seconds: 0, assetId: undefined };
    const url = `${baseUrl}${created.headers.location}`;
    let offset = 0;
    let last: Answer = created;
    while (offset < file.size) {
      const end = Math.min(file.size, offset + chunkBytes) - 1;
      last = await request(
        agent,
        url,
        'PATCH',
        {
          ...auth,
          'content-type': 'application/offset+octet-stream',
          'upload-offset': String(offset),
          'content-length': String(end - offset + 1),
        },
        { path: file.path, start: offset, end },
      );
      if (last.status !== 204) break;
      offset = Number(last.headers['upload-offset']);
    }
    const assetId = last.headers['x-asset-id'] as string | undefined;
    return { status: last.status, body: last.text, seconds: (performance.now() - started) / 1000, assetId };
  } finally {
    agent.destroy();
  }
}
