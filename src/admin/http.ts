import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../errors.js';

/** A 400 naming the bad input. */
export const invalid = (path: string, message: string) => new AppError('invalid_request', message, 400, { issues: [{ path, message }] });

type Handler = (req: Request, res: Response) => Promise<void>;
/** An async route whose failures reach the app's error handler (the answers are the contract's). */
export const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res).catch(next);
};

/** `?limit=` of the admin lists: 1..1000, default 100. */
export function limitOf(req: Request): number {
  const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit', 'must be an integer from 1 to 1000');
  return limit;
}
