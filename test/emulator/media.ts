import { createHash, randomBytes } from 'node:crypto';

/** Tiny but correctly sniffed media files, unique per call (random payload) unless a payload is given. */

const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
const MP4_HEAD = Buffer.from([
  0x00, 0x00, 0x00, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d, 0x00, 0x00, 0x02, 0x00, 0x69, 0x73, 0x6f, 0x6d, 0x69, 0x73, 0x6f, 0x32,
]);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function jpeg(payloadBytes = 256, payload: Buffer = randomBytes(payloadBytes)): Buffer {
  return Buffer.concat([JPEG_HEAD, payload, Buffer.from([0xff, 0xd9])]);
}

export function png(width = 16, height = 9): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, default compression/filter/interlace
  // A text chunk with random content keeps each file unique; trailing garbage would confuse PNG chunk parsers.
  const text = Buffer.from(`Comment\0${randomBytes(16).toString('hex')}`, 'latin1');
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('tEXt', text), chunk('IEND', Buffer.alloc(0))]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

export function mp4(payloadBytes = 256): Buffer {
  return Buffer.concat([MP4_HEAD, randomBytes(payloadBytes)]);
}

/** Bytes no Google Photos format starts with (a plain-text "document"). */
export function unsupported(bytes = 64): Buffer {
  return Buffer.from('This is a text file, not a photo. '.repeat(Math.ceil(bytes / 34)).slice(0, bytes));
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
