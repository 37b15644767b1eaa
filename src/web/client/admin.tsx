import { render } from 'preact';
import { Alert } from './alert.tsx';
import { useEffect, useRef, useState } from 'preact/hooks';
import QRCode from 'qrcode';
import { all, api, ApiFailure, bytes, duration, when } from './api.ts';

/**
 * The admin token lives in sessionStorage: this tab's session only, sent as a Bearer header by this page's own
 * requests, never put in a URL (so never in a log line, a history entry or a Referer), gone when the tab closes or on
 * "Sign out".
 */
const KEY = 'photo-relay.admin';
const POLL_MS = 3000;

function SignIn({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  async function submit(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      await api(token.trim(), 'GET', '/api/v1/admin/status');
      sessionStorage.setItem(KEY, token.trim());
      onSignedIn(token.trim());
    } catch (err) {
      setToken('');
      setError(
        err instanceof ApiFailure && (err.status === 401 || err.status === 403)
          ? 'Refused: that is not the admin token.'
          : (err as Error).message,
      );
    }
  }
  return (
    <section class="signin">
      <h1>Photo Relay · Admin</h1>
      <form onSubmit={submit}>
        <label>
          Admin token
          <input
            type="password"
            name="token"
            autocomplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            required
          />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <Alert>{error}</Alert>
    </section>
  );
}

function Qr({ text, label }: { text: string; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current) void QRCode.toCanvas(canvas.current, text, { width: 240, margin: 2 });
  }, [text]);
  return <canvas ref={canvas} role="img" aria-label={label} />;
}

interface Account {
  id: string;
  name: string;
  google: { status: 'unlinked' | 'linked' | 'needs_reauth'; email?: string; linkedAt?: string };
  forwarding: 'active' | 'paused';
  counts: Record<string, number>;
  backlogBytes: number;
  devices: number;
}

function LinkGoogle({ token, account }: { token: string; account: Account }) {
  const [message, setMessage] = useState<string | null>(null);
  const [pasted, setPasted] = useState('');
  const [showPaste, setShowPaste] = useState(false);
  async function authorize() {
    // Opened before the request so the browser treats it as the click's popup; pointed at Google when the URL arrives.
    const popup = window.open('about:blank', '_blank');
    // The consent page gets no handle on this one (no reverse tabnabbing); this page only polls for the result.
    if (popup) popup.opener = null;
    try {
      const { authUrl } = await api<{ authUrl: string }>(token, 'POST', `/api/v1/admin/accounts/${account.id}/google/authorize`, {});
      if (popup) popup.location.href = authUrl;
      else window.open(authUrl, '_blank', 'noopener');
      setMessage(
        'Consent in the new tab; this page notices when the link is done. If that tab cannot reach the relay, paste its address below.',
      );
      setShowPaste(true);
    } catch (err) {
      popup?.close();
      setMessage((err as Error).message);
    }
  }
  async function complete(e: Event) {
    e.preventDefault();
    try {
      await api(token, 'POST', `/api/v1/admin/accounts/${account.id}/google/complete`, { redirectUrl: pasted.trim() });
      setPasted('');
      setShowPaste(false);
      setMessage('Linked.');
    } catch (err) {
      setMessage((err as Error).message);
    }
  }
  const linked = account.google.status === 'linked';
  return (
    <div class="link">
      <button type="button" onClick={authorize}>
        {linked ? 'Link again' : 'Link Google Photos'}
      </button>
      <button type="button" class="secondary" onClick={() => setShowPaste(!showPaste)} aria-expanded={showPaste}>
        Paste the redirect
      </button>
      {message && !linked && <p class="note">{message}</p>}
      {showPaste && !linked && (
        <form onSubmit={complete} class="paste">
          <label>
            Address the consent ended on (starts with …/oauth/google/callback?)
            <input name="redirectUrl" value={pasted} onInput={(e) => setPasted(e.currentTarget.value)} required />
          </label>
          <button type="submit">Complete the link</button>
        </form>
      )}
    </div>
  );
}

function ForwardingSwitch({ token, account, reload }: { token: string; account: Account; reload: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const next = account.forwarding === 'active' ? 'paused' : 'active';
  async function toggle() {
    try {
      await api(token, 'PATCH', `/api/v1/admin/accounts/${account.id}`, { forwarding: next });
      setError(null);
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <>
      <button type="button" class="secondary" onClick={toggle}>
        {next === 'paused' ? 'Pause forwarding' : 'Resume forwarding'}
      </button>
      {error && <span class="error"> {error}</span>}
    </>
  );
}

function PairPhone({ token, account }: { token: string; account: Account }) {
  const [pairing, setPairing] = useState<{ code: string; expiresAt: string; pairUrl: string } | null>(null);
  const [nextcloud, setNextcloud] = useState<{ url: string } | { unavailable: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function pair() {
    setError(null);
    try {
      setPairing(await api(token, 'POST', `/api/v1/admin/accounts/${account.id}/pairings`));
    } catch (err) {
      setError((err as Error).message);
    }
  }
  async function nextcloudDevice() {
    setError(null);
    try {
      const r = await api<{ nextcloudLoginUrl: string }>(token, 'POST', `/api/v1/admin/accounts/${account.id}/devices`, {
        name: `${account.name}'s Nextcloud app`,
        platform: 'android',
      });
      setNextcloud({ url: r.nextcloudLoginUrl });
    } catch (err) {
      // A relay without the Nextcloud door has no such route (Fastify's "Route POST … not found").
      if (err instanceof ApiFailure && err.status === 404 && /^Route /.test(err.message))
        setNextcloud({ unavailable: 'This relay cannot create Nextcloud app logins yet.' });
      else setError((err as Error).message);
    }
  }
  // The account's name rides in the fragment: the phone's page shows it, and a fragment never reaches a server.
  const pairUrl = pairing ? `${pairing.pairUrl}#for=${encodeURIComponent(account.name)}` : '';
  return (
    <div class="pair">
      <button type="button" onClick={pair}>
        Pair a phone
      </button>
      <button type="button" class="secondary" onClick={nextcloudDevice}>
        Nextcloud app QR
      </button>
      {error && <p class="error">{error}</p>}
      {pairing && (
        <figure data-testid="pairing">
          <Qr text={pairUrl} label={`Pairing QR code for ${account.name}`} />
          <figcaption>
            Scan with the phone's camera, or open <a href={pairUrl}>{pairing.pairUrl.replace(/\?.*$/, '')}</a> and enter code{' '}
            <code data-testid="pairing-code">{pairing.code}</code>. Valid until {when(pairing.expiresAt)}.
          </figcaption>
        </figure>
      )}
      {nextcloud &&
        ('url' in nextcloud ? (
          <figure data-testid="nextcloud-qr">
            <Qr text={nextcloud.url} label={`Nextcloud app login QR code for ${account.name}`} />
            <figcaption>In the Nextcloud app: Log in → scan QR code. Shown once; it holds a new device's password.</figcaption>
          </figure>
        ) : (
          <p class="note">{nextcloud.unavailable}</p>
        ))}
    </div>
  );
}

function Accounts({ token, accounts, status, reload }: { token: string; accounts: Account[]; status: any; reload: () => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  async function create(e: Event) {
    e.preventDefault();
    try {
      await api(token, 'POST', '/api/v1/admin/accounts', { name: name.trim() });
      setName('');
      setError(null);
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  const byId = new Map<string, any>((status?.accounts ?? []).map((a: any) => [a.id, a]));
  return (
    <section aria-labelledby="accounts">
      <h2 id="accounts">Accounts</h2>
      <ul class="cards">
        {accounts.map((a) => {
          const s = byId.get(a.id);
          return (
            <li key={a.id} class="card" data-testid={`account-${a.name}`}>
              <h3>{a.name}</h3>
              <p>
                Google Photos:{' '}
                <strong data-testid="google-status" class={`google-${a.google.status}`}>
                  {a.google.status === 'linked'
                    ? `linked${a.google.email ? ` (${a.google.email})` : ''}`
                    : a.google.status === 'needs_reauth'
                      ? 'needs to be linked again'
                      : 'not linked'}
                </strong>
                {a.forwarding === 'paused' && <> · forwarding paused</>}
              </p>
              <Alert tone="warning">{s?.warning}</Alert>
              <p>
                Waiting: <strong data-testid="backlog">{s?.backlog ?? 0}</strong> ({bytes(s?.backlogBytes ?? a.backlogBytes)}), ETA{' '}
                {s?.backlog ? duration(s?.etaSeconds ?? null) : '—'}
                {s?.held && <> · held: {s.held}</>} · backed up {a.counts.backedUp ?? 0} · failed {a.counts.failed ?? 0} · devices{' '}
                {a.devices}
              </p>
              <LinkGoogle token={token} account={a} />
              <ForwardingSwitch token={token} account={a} reload={reload} />
              <PairPhone token={token} account={a} />
            </li>
          );
        })}
      </ul>
      <form onSubmit={create} class="inline">
        <label>
          New account (a household member)
          <input
            name="accountName"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
            maxLength={100}
            placeholder="Name"
          />
        </label>
        <button type="submit">Create account</button>
      </form>
      {error && <p class="error">{error}</p>}
    </section>
  );
}

function DeviceRow({ token, device, accountName, reload }: { token: string; device: any; accountName: string; reload: () => void }) {
  const [name, setName] = useState(device.name);
  const [error, setError] = useState<string | null>(null);
  const revoked = !!device.revokedAt;
  async function rename(e: Event) {
    e.preventDefault();
    try {
      await api(token, 'PATCH', `/api/v1/admin/devices/${device.id}`, { name: name.trim() });
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  async function revoke() {
    if (!confirm(`Revoke ${device.name}? It stops uploading at once; what it sent keeps forwarding.`)) return;
    try {
      await api(token, 'DELETE', `/api/v1/admin/devices/${device.id}`);
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <tr data-testid={`device-${device.name}`} class={revoked ? 'revoked' : ''}>
      <td>
        {revoked ? (
          device.name
        ) : (
          <form onSubmit={rename} class="inline">
            <label class="sr-only" for={`name-${device.id}`}>
              Name of {device.name}
            </label>
            <input id={`name-${device.id}`} value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={100} />
            <button type="submit">Rename</button>
          </form>
        )}
      </td>
      <td>{accountName}</td>
      <td>{device.platform}</td>
      <td>{when(device.lastSeenAt)}</td>
      <td>
        {device.counts.backedUp} backed up, {device.counts.pending + device.counts.uploading} waiting, {device.counts.failed} failed ·{' '}
        {bytes(device.bytesReceived)}
      </td>
      <td>
        {revoked ? (
          <span data-testid="revoked">revoked {when(device.revokedAt)}</span>
        ) : (
          <button type="button" class="danger" onClick={revoke}>
            Revoke
          </button>
        )}
        {error && <span class="error"> {error}</span>}
      </td>
    </tr>
  );
}

function Failures({
  token,
  failed,
  accounts,
  reload,
}: {
  token: string;
  failed: any[];
  accounts: Map<string, string>;
  reload: () => void;
}) {
  const [error, setError] = useState<string | null>(null);
  async function retry(id: string) {
    try {
      await api(token, 'POST', `/api/v1/admin/assets/${id}/retry`);
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <section aria-labelledby="failures">
      <h2 id="failures">Failures</h2>
      {error && <p class="error">{error}</p>}
      {failed.length === 0 ? (
        <p>Nothing failed.</p>
      ) : (
        <ul class="failures">
          {failed.map((a) => (
            <li key={a.id} data-testid="failure">
              <strong>{a.fileName}</strong> ({accounts.get(a.accountId) ?? 'account'}, {bytes(a.size)}):{' '}
              <span class="reason">{a.lastError ?? 'no reason recorded'}</span>{' '}
              <button type="button" onClick={() => retry(a.id)} aria-label={`Retry ${a.fileName}`}>
                Retry
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Status({ status }: { status: any }) {
  if (!status) return null;
  const q = status.quota;
  return (
    <section aria-labelledby="status">
      <h2 id="status">Status</h2>
      {status.demoMode && <Alert tone="warning">Demo mode: forwarding goes to the bundled Google Photos emulator, not to Google.</Alert>}
      <dl class="status">
        <dt>Google requests today</dt>
        <dd>
          {q.usedToday} of {q.dailyLimit}, resets {when(q.resetsAt)}
        </dd>
        <dt>Storage</dt>
        <dd>
          {status.storage.blobs} files, {bytes(status.storage.bytes)} held, {bytes(status.storage.freeBytes)} free
        </dd>
        <dt>Queues</dt>
        <dd>
          {Object.entries(status.queues as Record<string, Record<string, number>>)
            .map(
              ([name, depths]) =>
                `${name}: ${Object.entries(depths)
                  .map(([k, v]) => `${v} ${k}`)
                  .join(', ')}`,
            )
            .join(' · ') || '—'}
        </dd>
      </dl>
    </section>
  );
}

function Dashboard({ token, onSignOut }: { token: string; onSignOut: () => void }) {
  const [data, setData] = useState<{ status: any; accounts: Account[]; devices: any[]; failed: any[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [updated, setUpdated] = useState<Date | null>(null);
  const poll = useRef<() => Promise<void>>(async () => {});
  poll.current = async () => {
    try {
      const [status, accounts, devices, failed] = await Promise.all([
        api(token, 'GET', '/api/v1/admin/status'),
        all<Account>(token, '/api/v1/admin/accounts'),
        all<any>(token, '/api/v1/admin/devices'),
        all<any>(token, '/api/v1/admin/assets?state=failed', 1000),
      ]);
      setData({ status, accounts, devices, failed });
      setError(null);
      setUpdated(new Date());
    } catch (err) {
      if (err instanceof ApiFailure && (err.status === 401 || err.status === 403)) return onSignOut();
      setError((err as Error).message);
    }
  };
  useEffect(() => {
    void poll.current();
    // Live: every few seconds while the tab is visible.
    const timer = setInterval(() => document.visibilityState === 'visible' && void poll.current(), POLL_MS);
    return () => clearInterval(timer);
  }, [token]);
  const reload = () => void poll.current();
  const names = new Map((data?.accounts ?? []).map((a) => [a.id, a.name]));
  return (
    <>
      <header class="bar">
        <h1>Photo Relay · Admin</h1>
        <span class="updated" aria-live="off">
          {updated ? `updated ${updated.toLocaleTimeString()}` : ''}
        </span>
        <button type="button" class="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <Alert>{error}</Alert>
      {data && (
        <>
          <Accounts token={token} accounts={data.accounts} status={data.status} reload={reload} />
          <section aria-labelledby="devices">
            <h2 id="devices">Devices</h2>
            {data.devices.length === 0 ? (
              <p>No phones yet: pair one from its account above.</p>
            ) : (
              <div class="scroll">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Account</th>
                      <th scope="col">Platform</th>
                      <th scope="col">Last seen</th>
                      <th scope="col">Items</th>
                      <th scope="col">
                        <span class="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.devices.map((d) => (
                      <DeviceRow key={d.id} token={token} device={d} accountName={names.get(d.accountId) ?? ''} reload={reload} />
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <Status status={data.status} />
          <Failures token={token} failed={data.failed} accounts={names} reload={reload} />
        </>
      )}
    </>
  );
}

function Admin() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(KEY));
  if (!token) return <SignIn onSignedIn={setToken} />;
  return (
    <Dashboard
      token={token}
      onSignOut={() => {
        sessionStorage.removeItem(KEY);
        setToken(null);
      }}
    />
  );
}

const root = document.getElementById('root')!;
// The shell's "Loading…" is not Preact's to diff: clear it first.
root.textContent = '';
render(<Admin />, root);
