'use strict';
// Preloaded into the conformance harness (NODE_OPTIONS=--require) by run.py and
// authorization.py: the harness may only talk to this machine's loopback.
//
// Why: after `auth/offline-access-scope` the harness fetches the client's CIMD URL
// (https://conformance-test.local/client-metadata.json) to read its grant_types. That
// host does not exist; without this guard the fetch would send a DNS query off the
// machine. Refused here, the fetch fails at once and the harness records the check as
// INFO ("metadata URL could not be fetched"), exactly as it does when the lookup fails.
const dns = require('node:dns');
const net = require('node:net');

function isLoopback(host) {
  if (typeof host !== 'string' || host === '') return true; // node's default: localhost
  const h = host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

function refused(host) {
  const err = new Error(`loopback-guard: refused non-loopback host ${host}`);
  err.code = 'ENOTFOUND';
  err.hostname = host;
  return err;
}

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, options, callback) {
  if (!isLoopback(hostname)) {
    const cb = typeof options === 'function' ? options : callback;
    process.nextTick(cb, refused(hostname));
    return {};
  }
  return lookup.apply(this, arguments);
};

const promisesLookup = dns.promises.lookup;
dns.promises.lookup = function guardedPromisesLookup(hostname, ...rest) {
  if (!isLoopback(hostname)) return Promise.reject(refused(hostname));
  return promisesLookup.call(this, hostname, ...rest);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = args[0];
  const opts = Array.isArray(first) ? first[0] : first;
  let host;
  if (opts !== null && typeof opts === 'object') {
    host = typeof opts.path === 'string' ? undefined : opts.host; // a path is an IPC socket
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    host = typeof args[1] === 'string' ? args[1] : undefined;
  }
  if (host !== undefined && net.isIP(host.replace(/^\[|\]$/g, '')) && !isLoopback(host)) {
    const err = refused(host);
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return connect.apply(this, args);
};

if (typeof globalThis.fetch === 'function') {
  const fetch = globalThis.fetch;
  globalThis.fetch = function guardedFetch(input, init) {
    let url;
    try {
      url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    } catch {
      return fetch.call(this, input, init);
    }
    if (!isLoopback(url.hostname)) {
      return Promise.reject(new TypeError('fetch failed', { cause: refused(url.hostname) }));
    }
    return fetch.call(this, input, init);
  };
}
