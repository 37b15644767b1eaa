/**
 * The pages' Content-Security-Policy: only this origin's scripts and styles, no inline code of any kind.
 * 'wasm-unsafe-eval' lets the phone page compile hash-wasm's bundled SHA-256 (WebAssembly, not JavaScript eval): the
 * browser hashes multi-gigabyte videos in chunks at native speed. The admin page does not need it and does not get it.
 */
export function contentSecurityPolicy(wasm: boolean): string {
  return [
    "default-src 'none'",
    `script-src 'self'${wasm ? " 'wasm-unsafe-eval'" : ''}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The HTML shell of a page: a root element and the page's bundle. PUBLIC_URL rides in a meta tag, not an inline script. */
export function pageShell(page: 'phone' | 'admin', title: string, publicUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="public-url" content="${escapeAttr(publicUrl)}">
<title>${escapeAttr(title)}</title>
<link rel="stylesheet" href="/web/style.css">
<script type="module" src="/web/${page}.js"></script>
</head>
<body>
<main id="root"><p>Loading…</p><noscript>This page needs JavaScript.</noscript></main>
</body>
</html>
`;
}
