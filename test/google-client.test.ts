import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OAuth2Client } from 'google-auth-library';

it("uses googleapis' own OAuth2 client (google-auth-library, loaded without googleapis' 300-API index)", async () => {
  const { google } = await import('googleapis');
  assert.equal(google.auth.OAuth2, OAuth2Client);
});
