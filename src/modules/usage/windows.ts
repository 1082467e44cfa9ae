/** Spending windows, all in UTC: the day, the ISO week (from Monday) and the calendar month. */
export type Window = 'daily' | 'weekly' | 'monthly';
export const WINDOWS: readonly Window[] = ['daily', 'weekly', 'monthly'];

export type WindowStarts = Record<Window, Date>;

export function windowStarts(now: Date): WindowStarts {
  const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  return {
    daily: day,
    weekly: new Date(day.getTime() - sinceMonday * 86_400_000),
    monthly: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)),
  };
}

/** The start of the UTC hour containing `at`: the key of a usage bucket. */
export const hourOf = (at: Date): Date => new Date(Math.floor(at.getTime() / 3_600_000) * 3_600_000);
