import type { ServerResponse } from 'node:http';

/**
 * 104 (Upload Resumption Supported): tells a draft client where its upload lives before the body is sent, so a
 * creation cut midway can be resumed rather than started over. Node 20/22 have helpers for 100, 102 and 103 only
 * (a general writeInformation() came only in 2026, nodejs/node#63155); the 100 Continue helper writes its status line with the response's
 * internal raw writer, and so does this, on HTTP/1.1 only (HTTP/1.0 knows no 1xx) and before any header went out.
 * Returns false when it could not be sent: the client then learns the Location from the final answer.
 */
export function sendUploadResumption(res: ServerResponse, location: string, interopVersion: number): boolean {
  const writer = res as ServerResponse & { _writeRaw?: (data: string, encoding: BufferEncoding) => boolean };
  if (res.headersSent || res.req.httpVersion !== '1.1' || typeof writer._writeRaw !== 'function') return false;
  writer._writeRaw(
    `HTTP/1.1 104 Upload Resumption Supported\r\nLocation: ${location}\r\nUpload-Draft-Interop-Version: ${interopVersion}\r\n\r\n`,
    'latin1',
  );
  return true;
}
