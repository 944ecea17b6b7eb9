import type { JSX } from 'preact';

/**
 * The pager under a cursor-paginated list (SPEC section 3: `next_cursor`): back to the first
 * page when this is not it, and on to the next page when the answer named one.
 */
export function Pager({
  atStart,
  next,
  onFirst,
  onNext,
  firstLabel = 'First page',
  nextLabel = 'Next page',
}: {
  atStart: boolean;
  next: string | null | undefined;
  onFirst: () => void;
  onNext: (cursor: string) => void;
  firstLabel?: string;
  nextLabel?: string;
}): JSX.Element {
  return (
    <div class="pager">
      {!atStart && (
        <button type="button" onClick={onFirst}>
          {firstLabel}
        </button>
      )}
      {next && (
        <button type="button" onClick={() => onNext(next)}>
          {nextLabel}
        </button>
      )}
    </div>
  );
}
