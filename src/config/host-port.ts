import { isIPv6 } from 'node:net';
import { LockdError } from '../errors.js';

/** A parsed `host:port`; an IPv6 host is returned without its brackets. */
export interface HostPort {
  host: string;
  port: number;
}

const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

/**
 * Splits `host:port`, where host is a DNS name, an IPv4 address or a bracketed IPv6 address
 * (`[::1]:9464`). Port 0 ("pick a free port") is accepted only with `allowPortZero`, as it makes
 * sense for a listen address but never for a server to connect to. Throws `LockdError`
 * (`BAD_ADDRESS`) naming what is wrong.
 */
export function parseHostPort(text: string, opts: { allowPortZero?: boolean } = {}): HostPort {
  const colon = text.lastIndexOf(':');
  if (colon === -1) throw badAddress(text, 'missing ":port"');
  const rawHost = text.slice(0, colon);
  const rawPort = text.slice(colon + 1);
  const bracketed = rawHost.startsWith('[') && rawHost.endsWith(']');
  const host = bracketed ? rawHost.slice(1, -1) : rawHost;
  if (host === '') throw badAddress(text, 'missing host');
  if (bracketed ? !isIPv6(host) : !HOST_NAME.test(host)) {
    const hint = !bracketed && host.includes(':') ? ' (write IPv6 addresses in brackets, e.g. "[::1]:2379")' : '';
    throw badAddress(text, `invalid host "${host}"${hint}`);
  }
  const port = /^\d{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
  const minPort = opts.allowPortZero ? 0 : 1;
  if (!(port >= minPort && port <= 65535)) {
    throw badAddress(text, `invalid port "${rawPort}" (expected ${minPort}-65535)`);
  }
  return { host, port };
}

function badAddress(text: string, why: string): LockdError {
  return new LockdError('BAD_ADDRESS', `invalid address "${text}": ${why}`);
}
