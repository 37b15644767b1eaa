import { render } from 'preact';
import { Alert } from './alert.tsx';
import { useEffect, useRef, useState } from 'preact/hooks';
import { all, api, ApiFailure, bytes, copy, publicUrl, when } from './api.ts';
import { BrowserUpload, discoverResumable, type Item, type ResumableEndpoint } from './upload.ts';

/** What pairing leaves in this browser: the device token (localStorage, so the phone stays paired across visits). */
interface Paired {
  token: string;
  deviceId: string;
  accountId: string;
  accountName: string | null;
  deviceName: string;
}

const KEY = 'photo-relay.device';
const load = (): Paired | null => {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? 'null');
  } catch {
    return null;
  }
};

function guessPlatform(): 'android' | 'ios' | 'other' {
  const ua = navigator.userAgent;
  if (/android/i.test(ua)) return 'android';
  if (/iphone|ipad|ipod/i.test(ua)) return 'ios';
  return 'other';
}

function PairPage({ onPaired }: { onPaired: (p: Paired) => void }) {
  const params = new URLSearchParams(location.search);
  const [code, setCode] = useState(params.get('code') ?? '');
  // The admin's QR carries the account's name in the fragment (never sent to the relay) so this page can say it.
  const accountName = new URLSearchParams(location.hash.slice(1)).get('for');
  const platform = guessPlatform();
  const [name, setName] = useState(platform === 'android' ? 'Android phone' : platform === 'ios' ? 'iPhone' : 'Browser');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function pair(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ deviceId: string; token: string; accountId: string }>(null, 'POST', '/api/v1/pair', {
        code: code.trim(),
        name: name.trim(),
        platform,
      });
      const paired: Paired = { token: r.token, deviceId: r.deviceId, accountId: r.accountId, accountName, deviceName: name.trim() };
      localStorage.setItem(KEY, JSON.stringify(paired));
      // The code is spent: take it out of the address bar and history.
      history.replaceState(null, '', '/app');
      onPaired(paired);
    } catch (err) {
      setError(
        err instanceof ApiFailure && (err.status === 404 || err.status === 400)
          ? 'This pairing code is unknown, used or expired. Ask for a new QR code.'
          : (err as Error).message,
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <h1>Pair this phone</h1>
      <p>
        {accountName ? (
          <>
            This phone will back up to <strong>{accountName}</strong>'s Google Photos.
          </>
        ) : (
          'This phone will back up through this relay.'
        )}
      </p>
      <form onSubmit={pair}>
        <label>
          Pairing code
          <input name="code" value={code} onInput={(e) => setCode(e.currentTarget.value)} required autocomplete="off" />
        </label>
        <label>
          Name of this phone
          <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={100} />
        </label>
        <button type="submit" disabled={busy}>
          Pair this phone
        </button>
      </form>
      <Alert>{error}</Alert>
    </section>
  );
}

function CopyField({ label, value, secret }: { label: string; value: string; secret?: boolean }) {
  const ref = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  const id = `f-${label.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <div class="copy">
      <label for={id}>{label}</label>
      <div class="row">
        {secret ? (
          <input id={id} ref={ref} readOnly value={value} type="password" onFocus={(e) => e.currentTarget.select()} />
        ) : (
          <input id={id} ref={ref} readOnly value={value} type="text" onFocus={(e) => e.currentTarget.select()} />
        )}
        <button type="button" aria-label={`Copy ${label}`} onClick={async () => setCopied(await copy(value, ref.current))}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  );
}

function SetUp({ paired }: { paired: Paired }) {
  const server = publicUrl();
  const dav = `${server}/dav/`;
  const nc = `nc://login/user:${encodeURIComponent(paired.deviceName)}&password:${paired.token}&server:${server}`;
  const platform = guessPlatform();
  return (
    <section aria-labelledby="setup">
      <h2 id="setup">Set up automatic backup</h2>
      <details open={platform !== 'ios'}>
        <summary>Nextcloud app on Android</summary>
        <p>
          Install the Nextcloud app, then tap the button: the app opens already signed in to this relay. Turn on "Auto upload" for your
          camera folder.
        </p>
        <p class="links">
          <a class="button" href={nc}>
            Open the Nextcloud app
          </a>
          <a href="https://play.google.com/store/apps/details?id=com.nextcloud.client" rel="noopener">
            Google Play
          </a>
          <a href="https://f-droid.org/packages/com.nextcloud.client/" rel="noopener">
            F-Droid
          </a>
        </p>
      </details>
      <details open={platform === 'ios'}>
        <summary>Nextcloud app on iPhone</summary>
        <ol>
          <li>
            Install{' '}
            <a href="https://apps.apple.com/app/nextcloud/id1125420102" rel="noopener">
              Nextcloud
            </a>{' '}
            from the App Store.
          </li>
          <li>Open it, tap "Log in" and enter the server address below.</li>
          <li>When it asks, sign in with the user and password below.</li>
          <li>In Settings → Auto upload, turn on photos and videos.</li>
        </ol>
      </details>
      <details>
        <summary>WebDAV apps (PhotoSync, FolderSync)</summary>
        <p>Add a WebDAV server in the app with these settings, then choose the camera folder to upload.</p>
      </details>
      <CopyField label="Server" value={dav} />
      <CopyField label="User" value={paired.deviceName} />
      <CopyField label="Password" value={paired.token} secret />
    </section>
  );
}

function Progress({ value, max, label }: { value: number; max: number; label: string }) {
  return <progress value={value} max={Math.max(1, max)} aria-label={label} />;
}

const STATE_TEXT: Record<Item['state'], string> = {
  waiting: 'waiting',
  hashing: 'checking',
  hashed: 'checked',
  uploading: 'sending',
  sent: 'sent',
  known: 'already on the relay',
  failed: 'failed',
};

function BrowserUploadSection({ paired, onDone }: { paired: Paired; onDone: () => void }) {
  // undefined until the discovery answers; null: the relay has no resumable endpoint.
  const [endpoint, setEndpoint] = useState<ResumableEndpoint | null | undefined>(undefined);
  const [run, setRun] = useState<BrowserUpload | null>(null);
  const [, setTick] = useState(0);
  useEffect(() => {
    void discoverResumable().then(setEndpoint);
  }, []);

  function start(files: FileList | null) {
    if (!files || files.length === 0 || !endpoint) return;
    const upload = new BrowserUpload([...files], paired.token, endpoint, () => setTick((t) => t + 1));
    setRun(upload);
    void upload.run().then(onDone, () => onDone());
  }

  const busy = run && !run.finished;
  return (
    <section aria-labelledby="upload">
      <h2 id="upload">Upload from this browser</h2>
      {endpoint === null ? (
        <p class="note">
          This relay does not offer resumable uploads yet, so uploading from the browser is not available. Use an app above.
        </p>
      ) : (
        <>
          <label class="file">
            Choose photos and videos
            <input
              type="file"
              multiple
              accept="image/*,video/*"
              disabled={!!busy || endpoint === undefined}
              onChange={(e) => start(e.currentTarget.files)}
            />
          </label>
          <p class="hint">
            Only what the relay does not have yet is sent. If the page is closed or reloaded, choose the same files again: sending continues
            where it stopped.
          </p>
        </>
      )}
      {run && (
        <div class="progress" aria-live="polite">
          <p>
            <span data-testid="upload-summary">
              {run.finished ? 'Done' : run.paused ? 'Paused' : 'Working'}:{' '}
              {run.items.filter((i) => i.state === 'sent' || i.state === 'known').length} of {run.items.length} files,{' '}
              {bytes(run.doneBytes)} of {bytes(run.totalBytes)}
            </span>
          </p>
          <Progress value={run.doneBytes} max={run.totalBytes} label="Total progress" />
          {busy && (
            <button type="button" onClick={() => (run.paused ? run.resume() : run.pause())}>
              {run.paused ? 'Resume' : 'Pause'}
            </button>
          )}
          <ul class="files">
            {run.items.map((item, i) => (
              <li key={i} data-state={item.state}>
                <span class="name">{item.file.name}</span> <span class="state">{STATE_TEXT[item.state]}</span>
                {(item.state === 'hashing' || item.state === 'uploading') && (
                  <Progress value={item.done} max={item.file.size} label={`Progress of ${item.file.name}`} />
                )}
                {item.state === 'failed' && <span class="error"> {item.message}</span>}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

interface AssetRow {
  id: string;
  fileName: string;
  size: number;
  backedUpAt: string | null;
}

function Safe({ paired, refresh, onRevoked }: { paired: Paired; refresh: number; onRevoked: () => void }) {
  const [items, setItems] = useState<AssetRow[] | null>(null);
  const [device, setDevice] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    async function poll() {
      try {
        const [d, list] = await Promise.all([
          api(paired.token, 'GET', '/api/v1/device'),
          all<AssetRow>(paired.token, '/api/v1/assets?state=backed_up'),
        ]);
        if (stop) return;
        setDevice(d);
        setItems(list);
        setError(null);
      } catch (err) {
        if (err instanceof ApiFailure && err.status === 401) return onRevoked();
        if (!stop) setError((err as Error).message);
      }
    }
    void poll();
    const timer = setInterval(poll, 5000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [paired.token, refresh]);

  const waiting = device ? device.counts.pending + device.counts.uploading : 0;
  return (
    <section aria-labelledby="safe">
      <h2 id="safe">Safe to free up space</h2>
      {error && <p class="error">{error}</p>}
      {items === null ? (
        <p>Loading…</p>
      ) : (
        <>
          <p>
            <strong data-testid="safe-count">{items.length}</strong>{' '}
            {items.length === 1 ? 'item from this phone is' : 'items from this phone are'} in Google Photos: you may delete them here.
            {waiting > 0 && <> {waiting} more on their way.</>}
            {device?.counts.failed > 0 && <> {device.counts.failed} could not be backed up; the admin sees why.</>}
          </p>
          <ul class="safe" data-testid="safe-list">
            {items.map((a) => (
              <li key={a.id}>
                <span class="name">{a.fileName}</span>{' '}
                <span class="meta">
                  {bytes(a.size)}, {when(a.backedUpAt)}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function AppPage({ paired, onForget }: { paired: Paired; onForget: () => void }) {
  const [refresh, setRefresh] = useState(0);
  return (
    <>
      <header>
        <h1>Photo Relay</h1>
        <p data-testid="backs-up-to">
          <strong>{paired.deviceName}</strong> backs up to{' '}
          {paired.accountName ? (
            <strong>{paired.accountName}</strong>
          ) : (
            <>
              account <code>{paired.accountId.slice(0, 8)}</code>
            </>
          )}
          's Google Photos.
        </p>
      </header>
      <SetUp paired={paired} />
      <BrowserUploadSection paired={paired} onDone={() => setRefresh((r) => r + 1)} />
      <Safe paired={paired} refresh={refresh} onRevoked={onForget} />
      <footer>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            if (confirm('Forget this pairing on this browser? You will need a new QR code to pair again.')) onForget();
          }}
        >
          Forget this pairing
        </button>
      </footer>
    </>
  );
}

function Phone() {
  const [paired, setPaired] = useState<Paired | null>(load);
  const onPairPage = location.pathname === '/pair' && new URLSearchParams(location.search).has('code');
  if (paired && !onPairPage) return <AppPage paired={paired} onForget={() => (localStorage.removeItem(KEY), setPaired(null))} />;
  if (!paired && location.pathname === '/app')
    return (
      <section>
        <h1>Photo Relay</h1>
        <p>This browser is not paired. Scan the pairing QR code the admin shows you, or open the pairing link.</p>
      </section>
    );
  return <PairPage onPaired={setPaired} />;
}

const root = document.getElementById('root')!;
// The shell's "Loading…" is not Preact's to diff: clear it first.
root.textContent = '';
render(<Phone />, root);
