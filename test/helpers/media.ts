import { createHash, randomBytes } from 'node:crypto';

// Smallest byte patterns file-type recognises as each format, padded with random bytes so every call is new content.
const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
const PNG_HEAD = Buffer.concat([
  Buffer.from('89504e470d0a1a0a', 'hex'),
  Buffer.from('0000000d49484452000000010000000108060000001f15c489', 'hex'),
]);
const MP4_HEAD = Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex');

function pad(head: Buffer, size: number, tail = Buffer.alloc(0)): Buffer {
  const body = randomBytes(Math.max(0, size - head.length - tail.length));
  return Buffer.concat([head, body, tail]);
}

export const jpeg = (size = 2048) => pad(JPEG_HEAD, size, Buffer.from('ffd9', 'hex'));
/** A PNG whose chunk structure holds (an IDAT spanning the padding), so format detection never trips on random bytes. */
export function png(size = 2048): Buffer {
  const dataLength = Math.max(0, size - PNG_HEAD.length - 12 - 12);
  const idat = Buffer.alloc(8);
  idat.writeUInt32BE(dataLength, 0);
  idat.write('IDAT', 4, 'ascii');
  const iend = Buffer.from('0000000049454e44ae426082', 'hex');
  return Buffer.concat([PNG_HEAD, idat, randomBytes(dataLength), randomBytes(4), iend]);
}
export const mp4 = (size = 4096) => pad(MP4_HEAD, size);
export const notMedia = (size = 2048) => Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(size)]);

export const sha256 = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');
