/**
 * A user name for the apps' login screen, from the device's name: URL-safe (the iOS app takes the QR code's fields
 * as they are, without URL-decoding), never empty. Informational: the token alone names the device.
 */
export function loginNameOf(deviceName: string): string {
  const slug = deviceName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  return slug || 'device';
}

/**
 * The deep link the Nextcloud apps' QR login reads. Fields in exactly this order: the iOS app parses them by
 * position. The token (base64url) and the name (a slug) need no escaping; the server is the relay's public URL.
 */
export function nextcloudLoginUrl(deviceName: string, token: string, publicUrl: string): string {
  return `nc://login/user:${loginNameOf(deviceName)}&password:${token}&server:${publicUrl}`;
}
