import express from 'express';
import { createDeliveryRecords, DELIVERY_STATES, publicDelivery, type DeliveryState } from '../delivery/records.js';
import { AppError } from '../errors.js';
import type { AdminDeps } from './types.js';
import { newestRecords } from './lists.js';
import { invalid, limitOf, route } from './http.js';

/** `GET /admin/deliveries?state=pending|sent|failed|cancelled` and `GET /admin/deliveries/{id}` (SPEC §8.2). */
export function createDeliveryRoutes(deps: Pick<AdminDeps, 'redis' | 'keys'>): express.Router {
  const records = createDeliveryRecords(deps.redis, deps.keys);
  const router = express.Router();

  router.get(
    '/admin/deliveries',
    route(async (req, res) => {
      const state = req.query.state;
      if (state !== undefined && !(DELIVERY_STATES as readonly unknown[]).includes(state)) throw invalid('state', 'must be pending, sent, failed or cancelled');
      const states = state ? [state as DeliveryState] : DELIVERY_STATES;
      const found = await newestRecords(records.index, states, limitOf(req), (id) => records.read(id));
      res.json({ deliveries: found.map(publicDelivery) });
    }),
  );

  router.get(
    '/admin/deliveries/:id',
    route(async (req, res) => {
      const delivery = await records.read(String(req.params.id));
      if (!delivery) throw new AppError('delivery_not_found', 'no such delivery', 404);
      res.json(publicDelivery(delivery));
    }),
  );
  return router;
}
