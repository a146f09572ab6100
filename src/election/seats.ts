import { UsageError } from '../errors.js';

/** The most seats a seat set may have. */
export const MAX_SEATS = 1000;

/** Throws `UsageError` unless `seats` is an integer 1..MAX_SEATS. */
export function checkSeats(seats: number): void {
  if (!Number.isInteger(seats) || seats < 1 || seats > MAX_SEATS) {
    throw new UsageError(`seats must be an integer from 1 to ${MAX_SEATS}, got ${String(seats)}`);
  }
}
