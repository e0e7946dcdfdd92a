import type { NextFunction, Request, Response } from 'express';
import { bearerToken, secretMatcher } from '../webhook/auth.js';

/**
 * Guards everything under /admin: 404 when no ADMIN_TOKEN is configured (the admin API does
 * not exist), 401 without the token. `Authorization: Bearer <ADMIN_TOKEN>`, or HTTP Basic
 * with ADMIN_TOKEN as the password, so the queue dashboard can be opened in a browser.
 */
export function adminAuth(adminToken: string | undefined) {
  const matches = adminToken ? secretMatcher(adminToken) : () => false;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!adminToken) {
      res.status(404).json({ error: 'not_found' });
      return;
    }
    let presented = bearerToken(req.headers);
    const basic = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(req.headers.authorization ?? '');
    if (presented === null && basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      presented = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (presented === null || !matches(presented)) {
      if (req.path.startsWith('/queues')) res.setHeader('www-authenticate', 'Basic realm="handoff-orchestrator admin", charset="UTF-8"');
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    next();
  };
}
