import { ADMIN_TOKEN } from './harness.ts';

/** A thin client speaking the contract over real HTTP, as a phone or the admin would. */
export class Client {
  constructor(
    readonly baseUrl: string,
    readonly token: string = ADMIN_TOKEN,
  ) {}

  as(token: string): Client {
    return new Client(this.baseUrl, token);
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any; headers: Headers }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  async createAccount(name = 'Alice'): Promise<string> {
    const res = await this.call('POST', '/api/v1/admin/accounts', { name });
    if (res.status !== 201) throw new Error(`create account: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  }

  /** Pair a new device for the account; returns a client acting as that device. */
  async pairDevice(accountId: string, name = 'Pixel 8'): Promise<Client & { deviceId: string }> {
    const pairing = await this.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
    if (pairing.status !== 201) throw new Error(`pairing: ${pairing.status} ${JSON.stringify(pairing.body)}`);
    const paired = await new Client(this.baseUrl, '').call('POST', '/api/v1/pair', { code: pairing.body.code, name, platform: 'android' });
    if (paired.status !== 201) throw new Error(`pair: ${paired.status} ${JSON.stringify(paired.body)}`);
    return Object.assign(new Client(this.baseUrl, paired.body.token), { deviceId: paired.body.deviceId as string });
  }

  async upload(bytes: Buffer, fields: Record<string, string> = {}, fileName = 'IMG_0001.jpg') {
    const form = new FormData();
    form.set('deviceAssetId', fields.deviceAssetId ?? `asset-${Math.random().toString(36).slice(2)}`);
    for (const [k, v] of Object.entries(fields)) if (k !== 'deviceAssetId') form.set(k, v);
    form.set('file', new Blob([new Uint8Array(bytes)]), fileName);
    const res = await fetch(`${this.baseUrl}/api/v1/assets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}` },
      body: form,
    });
    return { status: res.status, body: (await res.json()) as any };
  }
}
