/**
 * The rows of an `UPDATE`/`DELETE ... RETURNING` run through TypeORM's `query()`: its postgres
 * driver answers those with `[rows, rowCount]` instead of the rows themselves.
 */
export function returned<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}
