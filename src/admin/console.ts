import { readFileSync } from 'node:fs';
import express, { type Response } from 'express';
import { secretMatcher } from '../webhook/auth.js';
import { adminCredentials } from './auth.js';

/**
 * The operator console's page (SPEC §14): static files shipped in the package (nothing to
 * build or install), read once. `GET /admin/console` answers 200 with the page to a request
 * that holds ADMIN_TOKEN (HTTP Basic, any user name, or Bearer) and 401 with the same page —
 * which then asks for the token once and sends it as a Bearer header — to one that does not
 * (without a Basic challenge: the page's own form is the way in).
 * The page holds no data; everything it shows comes from the admin API. Its two assets are
 * public for that reason. A strict Content-Security-Policy: scripts and styles from this
 * origin only, no inline code, no framing.
 */

const DIR = new URL('./console/', import.meta.url);
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS: Record<string, string> = { 'console.js': 'text/javascript; charset=utf-8', 'console.css': 'text/css; charset=utf-8', 'icon.svg': 'image/svg+xml' };

function secure(res: Response): void {
  res.setHeader('content-security-policy', CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
}

export function createConsoleRouter(adminToken: string | undefined): express.Router {
  const router = express.Router();
  if (!adminToken) return router; // no ADMIN_TOKEN: no admin API, no console (404 from the admin guard)
  const matches = secretMatcher(adminToken);
  const files = new Map<string, Buffer>();
  const file = (name: string): Buffer => {
    let content = files.get(name);
    if (!content) {
      content = readFileSync(new URL(name, DIR));
      files.set(name, content);
    }
    return content;
  };

  router.get('/admin/console', (req, res) => {
    secure(res);
    res.setHeader('cache-control', 'no-store');
    res.type('html');
    // Without credentials the page asks for the token itself (no Basic challenge: a browser's
    // prompt would come first, and a headless one gives up on it).
    if (adminCredentials(req, matches) === null) res.status(401);
    res.send(file('index.html'));
  });

  router.get('/admin/console/assets/:name', (req, res) => {
    const name = String(req.params.name);
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) {
      res.status(404).json({ error: 'not_found' });
      return;
    }
    secure(res);
    res.setHeader('cache-control', 'no-cache');
    res.type(type).send(file(name));
  });

  return router;
}
