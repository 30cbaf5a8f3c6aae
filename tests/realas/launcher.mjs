// zeroauth test bed: serve the OpenID-certified `oidc-provider` (9.13.x) on 127.0.0.1.
//
// Tests only. Prints exactly one JSON line on stdout once ready:
//   {"issuer": "http://127.0.0.1:<port>/realms/test", "port": <port>, "pid": <pid>}
// Everything else (library notices, the Node 20 "unsupported runtime" warning, --verbose
// request logs) goes to stderr. Switches are documented in docs/realas.md and by --help.
//
// RFC 8414 / OIDC Discovery at every well-known form, RFC 7591 open registration, RFC 7636
// PKCE (S256, required), RFC 8707 resource indicators -> RFC 9068 JWT access tokens, RFC 9207
// `iss`, RFC 7662 introspection, RFC 7009 revocation, Client ID Metadata Documents (draft-02,
// the library's experimental feature) with loopback-only fetching.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

// The ready line must be the only thing on stdout: the library prints notices with
// console.info (stdout), so every console channel goes to stderr from here on.
const toStderr = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

const FORMS = ['oauth-inserted', 'openid-inserted', 'openid-appended', 'oauth-appended'];
const ROOT_ALIASES = { 'oauth-root': 'oauth-inserted', 'openid-root': 'openid-inserted' };
const OAUTH_WK = '/.well-known/oauth-authorization-server';
const OPENID_WK = '/.well-known/openid-configuration';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const DENY_HINT = 'deny';
const DEFAULT_USER = 'alice';
const SHAPES = ['entra', 'okta'];
// Entra-like defaults: a tenant GUID and the API app registration's Application (client) ID.
const DEFAULT_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const DEFAULT_APP_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
const DEFAULT_OKTA_SERVER = 'aus1zeroauthtest';
const DEFAULT_OKTA_AUDIENCE = 'api://default';
// What Entra answers when a request carries RFC 8707 `resource` (v2.0 endpoint).
const AADSTS9010010 = 'AADSTS9010010: The resource parameter provided in the request doesn\'t '
  + 'match with the requested scopes.';

const HELP = `usage: node launcher.mjs [switches]
  --shape S              reproduce a real IdP (see docs/realas.md): entra (no DCR, OpenID-only
                         discovery at /<tenant>/v2.0, \`resource\` rejected with invalid_target
                         AADSTS9010010, api://<app-id>/ scopes, Entra v2 access-token claims) or
                         okta (custom authorization server /oauth2/<id>, scp array, cid, uid)
  --tenant T             entra: the tenant ID in the issuer and \`tid\` (default ${DEFAULT_TENANT})
  --app-id G             entra: the API app's client ID: \`aud\` of its tokens, scopes
                         api://G/<scope> (default ${DEFAULT_APP_ID})
  --auth-server-id I     okta: the custom authorization server ID (default ${DEFAULT_OKTA_SERVER})
  --audience A           okta: the authorization server's Audience, \`aud\` of every access
                         token (default ${DEFAULT_OKTA_AUDIENCE})
  --issuer-path P        issuer path (default /realms/test, or the shape's; "" for a root
                         issuer, "/" for a root issuer with a trailing slash, Auth0 style)
  --port N               port on 127.0.0.1 (default 0 = ephemeral)
  --disable-form F       serve 404 at a metadata form (repeatable): ${FORMS.join(', ')}
                         (root issuer aliases: oauth-root, openid-root)
  --alg A                access-token signing alg: RS256 (default) or ES256
  --access-token-format  jwt (default, RFC 9068) or opaque (for RFC 7662 introspection)
  --access-token-ttl S   access-token lifetime in seconds (default 3600)
  --scopes "a b"         resource scopes (default "mcp:tools mcp:read mcp:write")
  --default-scope "a"    scope injected when an authorization request has none (default: all
                         --scopes)
  --no-dcr               turn dynamic client registration off (Entra ID / pre-registration shape)
  --dpop M               DPoP (RFC 9449): on (default; the library's default too: proofs
                         accepted, tokens bound when the client sends one), nonce (on, and
                         every token request must carry an AS nonce, §8), off (no DPoP; the
                         metadata lists no dpop_signing_alg_values_supported)
  --cimd                 Client ID Metadata Documents (https client_id URLs on loopback only,
                         fetched over plain http: tests only)
  --device-flow          RFC 8628 device authorization grant (the library's own pages; the
                         login and consent behind them are the headless auto-approve below)
  --keys-file F          signing keys (RSA + P-256): load, or generate and write if missing
  --client-json J        a pre-registered client (JSON object, or @path to a JSON file; repeatable)
  --verbose              log each request to stderr
  --watch-stdin          exit when stdin closes (the test runner died): no orphaned servers
  --help`;

function fail(message) {
  process.stderr.write(`realas launcher: ${message}\n`);
  process.exit(2);
}

function parseSwitches(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        shape: { type: 'string' },
        tenant: { type: 'string', default: DEFAULT_TENANT },
        'app-id': { type: 'string', default: DEFAULT_APP_ID },
        'auth-server-id': { type: 'string', default: DEFAULT_OKTA_SERVER },
        audience: { type: 'string', default: DEFAULT_OKTA_AUDIENCE },
        'issuer-path': { type: 'string' },
        port: { type: 'string', default: '0' },
        'disable-form': { type: 'string', multiple: true, default: [] },
        alg: { type: 'string', default: 'RS256' },
        'access-token-format': { type: 'string', default: 'jwt' },
        'access-token-ttl': { type: 'string', default: '3600' },
        scopes: { type: 'string', default: 'mcp:tools mcp:read mcp:write' },
        'default-scope': { type: 'string' },
        'no-dcr': { type: 'boolean', default: false },
        cimd: { type: 'boolean', default: false },
        'device-flow': { type: 'boolean', default: false },
        dpop: { type: 'string', default: 'on' },
        'keys-file': { type: 'string' },
        'client-json': { type: 'string', multiple: true, default: [] },
        verbose: { type: 'boolean', default: false },
        'watch-stdin': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    fail(err.message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const shape = v.shape ?? null;
  if (shape !== null && !SHAPES.includes(shape)) fail(`--shape must be one of ${SHAPES.join(', ')}`);
  for (const [name, value] of [['tenant', v.tenant], ['app-id', v['app-id']],
    ['auth-server-id', v['auth-server-id']]]) {
    if (!/^[A-Za-z0-9-]+$/.test(value)) fail(`--${name} must be letters, digits and "-"`);
  }
  const shapePath = { entra: `/${v.tenant}/v2.0`, okta: `/oauth2/${v['auth-server-id']}` };
  let issuerPath = v['issuer-path'] ?? shapePath[shape] ?? '/realms/test';
  if (issuerPath !== '' && !issuerPath.startsWith('/')) fail('--issuer-path must start with "/"');
  if (issuerPath.length > 1 && issuerPath.endsWith('/')) {
    fail('--issuer-path must not end with "/" (only "/" itself is allowed)');
  }
  if (/[?#\s]/.test(issuerPath) || issuerPath.includes('/.well-known')) {
    fail('--issuer-path must be a plain path');
  }
  const mount = issuerPath === '/' ? '' : issuerPath;
  const disabled = new Set();
  // Entra serves only <issuer>/.well-known/openid-configuration; Okta's custom authorization
  // servers serve both documents under the issuer and the RFC 8414 inserted form.
  if (shape === 'entra') ['oauth-inserted', 'openid-inserted', 'oauth-appended'].forEach((f) => disabled.add(f));
  if (shape === 'okta') disabled.add('openid-inserted');
  for (const form of v['disable-form']) {
    const name = ROOT_ALIASES[form] ?? form;
    if (!FORMS.includes(name)) fail(`unknown --disable-form ${form}`);
    disabled.add(name);
  }
  if (!['RS256', 'ES256'].includes(v.alg)) fail('--alg must be RS256 or ES256');
  if (!['on', 'nonce', 'off'].includes(v.dpop)) fail('--dpop must be on, nonce or off');
  if (shape === 'entra' && v.dpop !== 'on') fail('--shape entra has no DPoP (leave --dpop out)');
  if (!['jwt', 'opaque'].includes(v['access-token-format'])) {
    fail('--access-token-format must be jwt or opaque');
  }
  const ttl = Number.parseInt(v['access-token-ttl'], 10);
  if (!(ttl > 0)) fail('--access-token-ttl must be a positive integer');
  const port = Number.parseInt(v.port, 10);
  if (!(port >= 0 && port < 65536)) fail('--port must be 0..65535');
  const scopes = v.scopes.split(/[\s,]+/).filter(Boolean);
  const defaultScope = (v['default-scope'] ?? scopes.join(' ')).split(/[\s,]+/).filter(Boolean);
  const clients = v['client-json'].map((raw) => {
    const text = raw.startsWith('@') ? fs.readFileSync(raw.slice(1), 'utf8') : raw;
    try {
      return JSON.parse(text);
    } catch (err) {
      return fail(`--client-json is not JSON: ${err.message}`);
    }
  });
  return {
    shape,
    tenant: v.tenant,
    appId: v['app-id'],
    appIdUri: `api://${v['app-id']}`,
    audience: v.audience,
    issuerPath,
    mount,
    port,
    disabled,
    alg: v.alg,
    accessTokenFormat: v['access-token-format'],
    accessTokenTTL: ttl,
    scopes,
    defaultScope,
    dcr: !v['no-dcr'] && shape === null, // neither Entra nor Okta (without an API token) has DCR
    cimd: v.cimd,
    deviceFlow: v['device-flow'],
    dpop: shape === 'entra' ? 'off' : v.dpop,
    keysFile: v['keys-file'],
    clients,
    verbose: v.verbose,
    watchStdin: v['watch-stdin'],
  };
}

// RFC 7638 thumbprint, used as `kid`.
function thumbprint(jwk) {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function generateKeys() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return [
    { ...rsa.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' },
    { ...ec.export({ format: 'jwk' }), use: 'sig', alg: 'ES256' },
  ].map((jwk) => ({ kid: thumbprint(jwk), ...jwk }));
}

// Generated once per test session and reused: RSA generation is the slow part of a start.
function loadKeys(keysFile) {
  if (!keysFile) return { keys: generateKeys() };
  try {
    return JSON.parse(fs.readFileSync(keysFile, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') fail(`cannot read --keys-file: ${err.message}`);
  }
  const jwks = { keys: generateKeys() };
  fs.mkdirSync(path.dirname(path.resolve(keysFile)), { recursive: true });
  // Write-then-rename so concurrent launchers (pytest-xdist) never read a half-written file.
  const tmp = `${keysFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(jwks), { mode: 0o600 });
  fs.renameSync(tmp, keysFile);
  return jwks;
}

// The well-known URL table: path -> { target, forms }. For a root issuer the inserted and
// appended forms are the same URL; it is served only if none of its forms is disabled.
function wellKnownTable(mount) {
  const table = new Map();
  const add = (urlPath, target, form) => {
    const entry = table.get(urlPath) ?? { target, forms: new Set() };
    entry.forms.add(form);
    table.set(urlPath, entry);
  };
  add(`${OAUTH_WK}${mount}`, OAUTH_WK, 'oauth-inserted');
  add(`${OPENID_WK}${mount}`, OPENID_WK, 'openid-inserted');
  add(`${mount}${OPENID_WK}`, OPENID_WK, 'openid-appended');
  add(`${mount}${OAUTH_WK}`, OAUTH_WK, 'oauth-appended');
  return table;
}

function isLoopbackUrl(value) {
  const url = URL.parse(value);
  return url !== null && LOOPBACK_HOSTS.has(url.hostname);
}

const opts = parseSwitches(process.argv.slice(2));
const jwks = loadKeys(opts.keysFile);

const { default: Provider, errors } = await import('oidc-provider');

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(opts.port, '127.0.0.1', resolve);
});
const { port } = server.address();
const origin = `http://127.0.0.1:${port}`;
const issuer = `${origin}${opts.issuerPath}`;
// Entra names an API's delegated scopes <App ID URI>/<value> on the wire (api://<app-id>/x).
const qualify = (scope) => (scope.includes('://') ? scope : `${opts.appIdUri}/${scope}`);
const wireScopes = opts.shape === 'entra' ? opts.scopes.map(qualify) : opts.scopes;
const resourceScope = wireScopes.join(' ');
const oidcScopes = opts.shape === null ? [] : ['profile', 'email'];
const resourceServerInfo = (audience) => ({
  scope: resourceScope,
  ...(audience && { audience }),
  accessTokenTTL: opts.accessTokenTTL,
  accessTokenFormat: opts.accessTokenFormat,
  jwt: { sign: { alg: opts.alg } },
});

// A stable GUID-shaped identifier derived from a name (Entra `oid`; Okta `uid` below).
const digest = (value) => crypto.createHash('sha256').update(String(value)).digest('hex');
const guidOf = (value) => {
  const h = digest(value);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

// The access-token claims of each shape, rewritten from the library's RFC 9068 payload:
// - entra (v2 tokens, Microsoft identity platform "access token claims reference"): `typ: JWT`
//   header; `aud` = the API app's client ID; `scp` = space-separated short scope names
//   (app-only tokens: `roles`, a JSON array); `azp`/`azpacr`, `tid`, `oid`, `ver: "2.0"`; no
//   `scope` or `client_id`;
// - okta (custom authorization server samples): no `typ` header; `scp` a JSON array, `cid`
//   (the client), `uid` (the Okta user ID), `ver: 1`, `jti` "AT.…"; no `scope`/`client_id`.
function shapeAccessToken(token, jwt) {
  const payload = jwt.payload;
  const scopes = String(payload.scope ?? '').split(' ').filter(Boolean);
  const clientId = payload.client_id;
  delete payload.scope;
  delete payload.client_id;
  if (opts.shape === 'entra') {
    const prefix = `${opts.appIdUri}/`;
    const short = scopes.map((s) => (s.startsWith(prefix) ? s.slice(prefix.length) : s));
    const appOnly = token.kind === 'ClientCredentials';
    Object.assign(payload, {
      aud: opts.appId,
      azp: clientId,
      azpacr: token.client?.clientAuthMethod === 'none' ? '0' : '1',
      tid: opts.tenant,
      oid: guidOf(appOnly ? clientId : payload.sub),
      ver: '2.0',
      ...(short.length && (appOnly ? { roles: short } : { scp: short.join(' ') })),
    });
    jwt.header = { typ: 'JWT' };
  } else {
    Object.assign(payload, {
      ver: 1,
      jti: `AT.${payload.jti}`,
      cid: clientId,
      ...(token.accountId && { uid: `00u${digest(token.accountId).slice(0, 17)}` }),
      scp: scopes,
    });
    jwt.header = { typ: undefined };
  }
}

// The shapes' users hold app roles and groups by a deterministic rule on their name (`sub`, the
// login_hint): each word of the name (split on anything but letters and digits) that is a key
// of USER_GRANTS adds its role and group, so `alice` holds none, `writer` or `bob-writer`
// holds role Notes.Writer and group editors, `admin-writer` holds both words' roles and groups.
// ID tokens carry them as Entra does (`roles`: app-role values; `groups`: object IDs, a GUID per
// group name) or as an Okta groups claim does (`groups`: names; Okta has no roles claim).
const USER_GRANTS = {
  writer: { role: 'Notes.Writer', group: 'editors' },
  admin: { role: 'Notes.Admin', group: 'mcp-admins' },
};
function userGrants(sub) {
  const words = String(sub).toLowerCase().split(/[^a-z0-9]+/);
  const held = words.filter((w) => Object.hasOwn(USER_GRANTS, w)).map((w) => USER_GRANTS[w]);
  const roles = [...new Set(held.map((h) => h.role))];
  const groups = [...new Set(held.map((h) => h.group))];
  if (opts.shape === 'entra') {
    return {
      ...(roles.length && { roles }),
      ...(groups.length && { groups: groups.map(guidOf) }),
    };
  }
  if (opts.shape === 'okta') return groups.length ? { groups } : {};
  return {};
}

const provider = new Provider(issuer, {
  jwks,
  clients: opts.clients,
  // DCR with a `scope` is rejected unless every value is listed here (the TypeScript SDK
  // always sends one), so the resource scopes are listed too.
  scopes: ['openid', 'offline_access', ...oidcScopes, ...wireScopes],
  claims: {
    // roles/groups under openid: ID tokens carry them (the bridge's scope_map reads them)
    openid: ['sub', ...(opts.shape === 'entra' ? ['tid', 'oid', 'ver', 'roles', 'groups'] : []),
      ...(opts.shape === 'okta' ? ['groups'] : [])],
    ...(oidcScopes.length && { profile: ['name', 'preferred_username'], email: ['email'] }),
  },
  pkce: { required: () => true },
  responseTypes: ['code'],
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: opts.dcr, initialAccessToken: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: opts.deviceFlow },
    dPoP: {
      enabled: opts.dpop !== 'off',
      // Nonces (RFC 9449 §8) need a 32-byte secret; with --dpop nonce every request needs one.
      ...(opts.dpop === 'nonce' && {
        nonceSecret: crypto.randomBytes(32),
        requireNonce: () => true,
      }),
    },
    resourceIndicators: {
      enabled: true,
      // One resource in the request -> use it; none -> no audience-bound token.
      // Shapes: Entra picks the API by the scope (a request naming api://<app-id>/x gets a
      // token for that app); an Okta authorization server has one Audience for every token.
      defaultResource: (ctx, client, oneOf) => {
        if (oneOf || opts.shape === null) return oneOf;
        if (opts.shape === 'okta') return opts.audience;
        const asked = String(ctx.oidc.params?.scope ?? '').split(' ');
        return asked.some((s) => s.startsWith(`${opts.appIdUri}/`)) ? opts.appIdUri : undefined;
      },
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        // Entra accepts `resource` only when it names the API app's identifier URI.
        if (opts.shape === 'entra') {
          if (resourceIndicator !== opts.appIdUri) throw new errors.InvalidTarget(AADSTS9010010);
          return resourceServerInfo(opts.appId);
        }
        if (opts.shape === 'okta') return resourceServerInfo(opts.audience);
        const url = URL.parse(resourceIndicator);
        if (url === null || !['http:', 'https:'].includes(url.protocol)) {
          throw new errors.InvalidTarget('resource must be an http(s) URL');
        }
        return {
          scope: resourceScope,
          accessTokenTTL: opts.accessTokenTTL,
          accessTokenFormat: opts.accessTokenFormat,
          jwt: { sign: { alg: opts.alg } },
        };
      },
    },
    clientIdMetadataDocument: {
      enabled: opts.cimd,
      ack: 'draft-02',
      // Never contact anything but loopback; everything else is refused (invalid_client).
      allowFetch: (ctx, clientId) => isLoopbackUrl(clientId),
      // Honour the document server's Cache-Control; without one, do not cache (tests
      // change documents between requests).
      cacheDuration: { min: 0, max: 300 },
    },
  },
  // CIMD client_id URLs are https-only in the library. Tests serve the document on
  // loopback over plain http; this transport maps https://<loopback>:<port>/p to
  // http://<loopback>:<port>/p and drops the library's SSRF dispatcher (it rejects loopback).
  // Non-loopback URLs never reach here (allowFetch) and are refused again, to be sure.
  fetch: (url, options) => {
    const target = new URL(url);
    if (!LOOPBACK_HOSTS.has(target.hostname)) {
      return Promise.reject(new Error(`realas: refusing non-loopback fetch ${target.host}`));
    }
    target.protocol = 'http:';
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(target.href, rest);
  },
  // Refresh tokens for every client allowed the grant (not only with offline_access), and
  // always rotated; replaying a rotated one revokes the whole grant.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    Session: 24 * 3600,
    Grant: 24 * 3600,
    Interaction: 600,
    RefreshToken: 24 * 3600,
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? opts.accessTokenTTL,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL
      ?? opts.accessTokenTTL,
  },
  interactions: {
    url: (ctx, interaction) => `${opts.mount}/interaction/${interaction.uid}`,
  },
  // Token-exchange policy per client (see registerGrantType below): which resources' tokens it
  // may exchange (`acts_for`) and for which targets (`exchange_to`).
  extraClientMetadata: { properties: ['acts_for', 'exchange_to'] },
  // ...and the `act` claim of an exchanged token (set on the token by that grant).
  extraTokenClaims: (ctx, token) => (token.exchangeAct ? { act: token.exchangeAct } : undefined),
  ...(opts.shape !== null && { formats: { customizers: { jwt: (ctx, token, jwt) => shapeAccessToken(token, jwt) } } }),
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => (opts.shape === null ? { sub } : {
      sub, name: sub, preferred_username: `${sub}@example.com`, email: `${sub}@example.com`,
      ...(opts.shape === 'entra' && { tid: opts.tenant, oid: guidOf(sub), ver: '2.0' }),
      ...userGrants(sub),
    }),
  }),
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
});

// RFC 8693 token exchange (the library has no built-in one; its registerGrantType API adds it),
// with the dev authorization server's policy: a confidential client listed with the grant
// exchanges a JWT access token of this server whose `aud` is one of its `acts_for` resources,
// for one target in its `exchange_to` (`resource` or `audience`); scopes only narrow; the new
// token keeps the user as `sub` and names the client in `act` (§4.1, nesting an earlier `act`).
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const { jwtVerify, createLocalJWKSet } = await import('jose');
const publicKeys = createLocalJWKSet({
  keys: jwks.keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub),
});

provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
  const { client, params } = ctx.oidc;
  const policy = client.metadata();
  if (client.clientAuthMethod === 'none') {
    throw new errors.UnauthorizedClient('token exchange is for confidential clients');
  }
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.actor_token) throw new errors.InvalidRequest('actor tokens are not supported here');
  if ((params.requested_token_type ?? ACCESS_TOKEN_TYPE) !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('only access tokens are issued by exchange');
  }
  let subject;
  try {
    ({ payload: subject } = await jwtVerify(String(params.subject_token ?? ''), publicKeys, {
      issuer, typ: 'at+jwt',
    }));
  } catch {
    throw new errors.InvalidGrant('the subject token is not an active access token of this server');
  }
  const audiences = [subject.aud].flat();
  if (!audiences.some((aud) => (policy.acts_for ?? []).includes(aud))) {
    throw new errors.InvalidGrant('the subject token was not issued to a resource this client serves');
  }
  if (params.resource && params.audience && params.resource !== params.audience) {
    throw new errors.InvalidTarget('resource and audience name different targets');
  }
  const target = params.resource ?? params.audience;
  if (!target) throw new errors.InvalidRequest('name the target with resource or audience');
  if (!(policy.exchange_to ?? []).includes(target)) {
    throw new errors.InvalidTarget(`this client may not obtain tokens for ${String(target).slice(0, 200)}`);
  }
  const held = String(subject.scope ?? '').split(' ').filter(Boolean);
  const allowed = held.filter((scope) => opts.scopes.includes(scope));
  const asked = String(params.scope ?? '').split(' ').filter(Boolean);
  const beyond = asked.filter((scope) => !allowed.includes(scope));
  if (beyond.length) {
    throw new errors.InvalidScope(`scope ${beyond.join(' ')} is beyond the subject token's`);
  }
  const act = { sub: client.clientId, ...(subject.act && { act: subject.act }) };
  const token = new provider.AccessToken({
    accountId: subject.sub,
    client,
    grantId: `exchange-${subject.jti ?? crypto.randomUUID()}`,
    gty: 'token_exchange',
    scope: (asked.length ? asked : allowed).join(' ') || undefined,
  });
  token.exchangeAct = act; // read by extraTokenClaims
  token.resourceServer = new provider.ResourceServer(target, {
    scope: resourceScope,
    accessTokenTTL: opts.accessTokenTTL,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: opts.alg } },
  });
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();
  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: token.tokenType,
    expires_in: token.expiration,
    scope: token.scope,
  };
}, ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'audience',
  'scope', 'actor_token', 'actor_token_type']);

// --verbose also logs the token endpoint's outcomes and grant revocations (fleet tests and
// benches count refreshes and reuse-detection revocations from the AS's own events):
//   realas event grant.success <grant_type> | grant.error <error> | grant.revoked
if (opts.verbose) {
  provider.on('grant.success', (ctx) => {
    toStderr(`realas event grant.success ${ctx.oidc?.params?.grant_type ?? '?'}`);
  });
  provider.on('grant.error', (ctx, err) => {
    toStderr(`realas event grant.error ${ctx.oidc?.params?.grant_type ?? '?'} ${err?.error ?? err}`);
  });
  provider.on('grant.revoked', () => toStderr('realas event grant.revoked'));
}

// Keycloak answers an authorization request without `scope` with the client's default
// scopes; the library would otherwise issue nothing useful. Inject the client's registered
// `scope` if it has one, else --default-scope.
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/auth' && !ctx.query.scope) {
    const query = new URLSearchParams(ctx.querystring);
    const clientId = query.get('client_id');
    const client = clientId ? await provider.Client.find(clientId).catch(() => undefined) : undefined;
    query.set('scope', client?.scope ?? opts.defaultScope.join(' '));
    ctx.querystring = query.toString();
  }
  await next();
});

// The shapes' response filter. Both: jwks_uri at the IdP's keys path (Entra's is outside the
// issuer path; Okta's is <issuer>/v1/keys). Entra, the rest of its `resource` rejection (the
// rejection itself is in getResourceServerInfo above): OpenID metadata without
// code_challenge_methods_supported and authorization_response_iss_parameter_supported; no
// RFC 9207 `iss` on the authorization response; every invalid_target described as
// AADSTS9010010 (the token endpoint's own "resource indicator is missing, or unknown" too).
const keysAlias = { entra: `/${opts.tenant}/discovery/v2.0/keys`, okta: `${opts.mount}/v1/keys` }[opts.shape] ?? null;
if (opts.shape !== null) {
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body;
    const isObject = body !== null && typeof body === 'object' && !Buffer.isBuffer(body);
    if ([OPENID_WK, OAUTH_WK].includes(ctx.path) && isObject) {
      body.jwks_uri = `${origin}${keysAlias}`;
      if (opts.shape === 'entra') {
        delete body.code_challenge_methods_supported;
        delete body.authorization_response_iss_parameter_supported;
      }
    }
    if (opts.shape !== 'entra') return;
    if (isObject && body.error === 'invalid_target') body.error_description = AADSTS9010010;
    const location = URL.parse(ctx.response.get('location') || '');
    if (location && location.origin !== origin && location.searchParams.has('iss')) {
      location.searchParams.delete('iss');
      if (location.searchParams.get('error') === 'invalid_target') {
        location.searchParams.set('error_description', AADSTS9010010);
      }
      ctx.response.set('location', location.href);
    }
  });
}

// Headless auto-approve (the library's dev pages stay off): `login_hint` is the user (`sub`),
// the hint "deny" ends the flow with access_denied, consent grants everything requested.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  let result;
  if (prompt.name === 'login') {
    const hint = typeof params.login_hint === 'string' ? params.login_hint : '';
    result = hint === DENY_HINT
      ? { error: 'access_denied', error_description: 'the test user denied the request' }
      : { login: { accountId: hint || DEFAULT_USER } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    result = { consent: details.grantId ? {} : { grantId } };
  } else {
    result = { error: 'access_denied', error_description: `unhandled prompt ${prompt.name}` };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const wellKnown = wellKnownTable(opts.mount);
const callback = provider.callback();

function notFound(res) {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not_found"}');
}

// SIGUSR2 toggles an outage (tests of an IdP that is down and comes back with its state): while
// it lasts every connection is reset before anything is read or answered.
let outage = false;
process.on('SIGUSR2', () => {
  outage = !outage;
  toStderr(`realas outage ${outage ? 'on' : 'off'}`);
});

server.on('request', async (req, res) => {
  if (outage) {
    req.socket.destroy();
    return;
  }
  const started = process.hrtime.bigint();
  if (opts.verbose) {
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      toStderr(`realas ${req.method} ${req.url} -> ${res.statusCode} (${ms.toFixed(1)} ms)`);
    });
  }
  try {
    const url = new URL(req.url, origin);
    // The shapes' JWKS paths: Entra's outside the issuer path, Okta's /v1/keys.
    if (keysAlias !== null && url.pathname === keysAlias) {
      req.url = `${opts.mount}/jwks`;
      url.pathname = req.url;
    }
    const known = wellKnown.get(url.pathname);
    if (known) {
      if ([...known.forms].some((form) => opts.disabled.has(form))) {
        notFound(res);
        return;
      }
      req.baseUrl = opts.mount;
      req.url = `${known.target}${url.search}`;
      callback(req, res);
      return;
    }
    if (url.pathname.startsWith(`${opts.mount}/interaction/`)) {
      await interaction(req, res);
      return;
    }
    if (opts.mount === '' || url.pathname === opts.mount
        || url.pathname.startsWith(`${opts.mount}/`)) {
      req.baseUrl = opts.mount;
      req.url = req.url.slice(opts.mount.length) || '/';
      callback(req, res);
      return;
    }
    notFound(res);
  } catch (err) {
    toStderr(`realas: ${req.method} ${req.url} failed: ${err.stack ?? err}`);
    if (!res.headersSent) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_request', error_description: String(err.message) }));
    } else {
      res.end();
    }
  }
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, stop);
if (opts.watchStdin) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({ issuer, port, pid: process.pid })}\n`);
