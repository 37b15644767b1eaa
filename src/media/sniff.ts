import { fileTypeFromBuffer } from 'file-type';

/** How many leading bytes are enough to recognise every format we accept (file-type needs ~4 KiB; RAW/TIFF IFDs a little more). */
export const SNIFF_BYTES = 64 * 1024;

export type MediaKind = 'photo' | 'video';
export interface MediaType {
  mimeType: string;
  kind: MediaKind;
}

// The formats Google Photos accepts (Google's Photos Library API documentation; the emulator checks the same list), by the MIME type file-type reports.
const ACCEPTED: Record<string, MediaKind> = {
  'image/jpeg': 'photo',
  'image/png': 'photo',
  'image/gif': 'photo',
  'image/webp': 'photo',
  'image/bmp': 'photo',
  'image/tiff': 'photo',
  'image/heic': 'photo',
  'image/heic-sequence': 'photo',
  'image/heif': 'photo',
  'image/heif-sequence': 'photo',
  'image/avif': 'photo',
  'image/x-icon': 'photo',
  'image/x-canon-cr2': 'photo',
  'image/x-canon-cr3': 'photo',
  'image/x-nikon-nef': 'photo',
  'image/x-sony-arw': 'photo',
  'image/x-adobe-dng': 'photo',
  'image/x-olympus-orf': 'photo',
  'image/x-panasonic-rw2': 'photo',
  'image/x-fujifilm-raf': 'photo',
  'video/mp4': 'video',
  'video/quicktime': 'video',
  'video/x-m4v': 'video',
  'video/3gpp': 'video',
  'video/3gpp2': 'video',
  'video/x-ms-asf': 'video',
  'application/vnd.ms-asf': 'video',
  'video/vnd.avi': 'video',
  'video/matroska': 'video',
  'video/mpeg': 'video',
  'video/MP1S': 'video',
  'video/MP2P': 'video',
  'video/mp2t': 'video',
};

/** Judge a file by its first bytes, never by its name. Returns null for anything Google Photos would not accept. */
export async function sniffMedia(head: Uint8Array): Promise<MediaType | null> {
  const detected = await fileTypeFromBuffer(head);
  if (!detected) return null;
  const kind = ACCEPTED[detected.mime];
  return kind ? { mimeType: detected.mime, kind } : null;
}

/** Google's per-kind size limits: photos up to 200 MB, videos up to 20 GB. */
export const GOOGLE_MAX_BYTES: Record<MediaKind, number> = {
  photo: 200 * 1000 * 1000,
  video: 20 * 1000 * 1000 * 1000,
};
