import type { NextFunction, Request, Response } from 'express';
import { bearerToken, secretMatcher } from '../webhook/auth.js';

/** How a request proved it holds ADMIN_TOKEN: a Bearer header, HTTP Basic (any user name), or not at all. */
export type AdminCredentials = 'bearer' | 'basic' | null;

/** Reads the admin credentials of a request against `matches` (constant time). */
export function adminCredentials(req: Request, matches: (presented: string) => boolean): AdminCredentials {
  const bearer = bearerToken(req.headers);
  if (bearer !== null) return matches(bearer) ? 'bearer' : null;
  const basic = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(req.headers.authorization ?? '');
  if (!basic?.[1]) return null;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  return matches(decoded.slice(decoded.indexOf(':') + 1)) ? 'basic' : null;
}

/**
 * A request that changes something, authenticated by credentials the browser adds by itself
 * (HTTP Basic), must come from a page of this origin: a cross-site form could otherwise ride
 * an operator's cached Basic credentials. A Bearer header cannot be sent cross-site without
 * a CORS preflight, which this service never answers.
 */
function crossSite(req: Request): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Guards everything under /admin: 404 when no ADMIN_TOKEN is configured (the admin API does
 * not exist), 401 without the token. `Authorization: Bearer <ADMIN_TOKEN>`, or HTTP Basic
 * with ADMIN_TOKEN as the password, so the queue dashboard and the console can be opened in a
 * browser; a change made with Basic credentials must come from this origin (403 otherwise).
 */
export function adminAuth(adminToken: string | undefined) {
  const matches = adminToken ? secretMatcher(adminToken) : () => false;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!adminToken) {
      res.status(404).json({ error: 'not_found' });
      return;
    }
    const credentials = adminCredentials(req, matches);
    if (credentials === null) {
      if (req.path.startsWith('/queues')) res.setHeader('www-authenticate', 'Basic realm="handoff-orchestrator admin", charset="UTF-8"');
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    if (credentials === 'basic' && !SAFE_METHODS.has(req.method) && crossSite(req)) {
      res.status(403).json({ error: 'cross_site', message: 'a change made with HTTP Basic credentials must come from this origin' });
      return;
    }
    next();
  };
}
