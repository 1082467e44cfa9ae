import { UnauthenticatedError } from '../lib/errors.js';
import type { Context, Viewer } from './context.js';

/** The authenticated viewer; root fields that call this are behind the `authenticated` scope. */
export function viewerOf(ctx: Context): Viewer {
  if (!ctx.viewer) throw new UnauthenticatedError();
  return ctx.viewer;
}
