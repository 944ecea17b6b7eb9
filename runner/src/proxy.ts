/**
 * Outbound proxies, the way curl and most CLIs read them: `HTTPS_PROXY` for https urls,
 * `HTTP_PROXY` for http urls (lower-case names too, which win), `NO_PROXY` for the hosts that are
 * reached directly. Runners sit in locked-down networks where a proxy is often the only way out.
 *
 * NO_PROXY entries are separated by commas or spaces: `*` (no proxy at all), a host name (which
 * also matches its subdomains; a leading `.` or `*.` means the same), an IP address, each
 * optionally with `:port`. CIDR ranges are not supported.
 */

export interface ProxyEnv {
  httpsProxy?: string;
  httpProxy?: string;
  noProxy?: string;
}

/** Reads the proxy variables once, at boot (lower-case names take precedence, as in curl). */
export function readProxyEnv(env: NodeJS.ProcessEnv): ProxyEnv {
  const pick = (name: string): string | undefined => {
    const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
    return value && value.trim() !== '' ? value.trim() : undefined;
  };
  return { httpsProxy: pick('https_proxy'), httpProxy: pick('http_proxy'), noProxy: pick('no_proxy') };
}

/** The proxy to use for `target`, or undefined to connect directly. Throws on a malformed proxy url. */
export function proxyFor(target: URL, env: ProxyEnv): URL | undefined {
  const raw = target.protocol === 'https:' ? env.httpsProxy : env.httpProxy;
  if (!raw) return undefined;
  if (bypassesProxy(target, env.noProxy)) return undefined;
  // "proxy.corp:3128" without a scheme means http://proxy.corp:3128, as curl reads it.
  const proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new Error(`unsupported proxy scheme ${proxy.protocol} (use http:// or https://)`);
  }
  return proxy;
}

function bypassesProxy(target: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = stripBrackets(target.hostname.toLowerCase());
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const entry of noProxy.split(/[\s,]+/)) {
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, entryPort } = splitEntry(entry.toLowerCase());
    if (entryPort && entryPort !== port) continue;
    const bare = name.replace(/^\*?\./, '');
    if (bare === '') continue;
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

function splitEntry(entry: string): { name: string; entryPort?: string } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return { name: v6[1], entryPort: v6[2] };
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  if (withPort) return { name: withPort[1], entryPort: withPort[2] };
  return { name: entry };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `Proxy-Authorization` value for a proxy url with credentials, else undefined. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}
