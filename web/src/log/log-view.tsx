import { Fragment, type JSX } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { errorText } from '../api';
import { useLocation } from '../router';
import { LogBuffer, lineText, type LogLine } from './buffer';
import { TAIL_BYTES, downloadLog, readLog, readRange } from './stream';

/** Every line is exactly this tall (CSS `.log-line`), so the list knows where line n is. */
export const LINE_HEIGHT = 20;
const OVERSCAN = 30;

function targetLine(hash: string): number | null {
  const m = /^#L(\d+)$/.exec(hash);
  return m ? Number(m[1]) : null;
}

/** `text` with every occurrence of `query` (any case) in a <mark>; plain text when there is none. */
function marked(text: string, query: string): JSX.Element | string {
  if (!query) return text;
  const lower = text.toLowerCase();
  let at = lower.indexOf(query);
  if (at < 0) return text;
  const parts: Array<JSX.Element | string> = [];
  let from = 0;
  while (at >= 0) {
    if (at > from) parts.push(text.slice(from, at));
    parts.push(<mark key={at}>{text.slice(at, at + query.length)}</mark>);
    from = at + query.length;
    at = lower.indexOf(query, from);
  }
  if (from < text.length) parts.push(text.slice(from));
  return <>{parts}</>;
}

function Line({ line, n, linked, cls, query }: { line: LogLine; n: number; linked: boolean; cls: string; query: string }): JSX.Element {
  return (
    <div class={`log-line${cls}`} data-line={n}>
      {linked ? (
        <a class="ln" href={`#L${n}`} aria-label={`Line ${n}`}>
          {n}
        </a>
      ) : (
        <span class="ln">{n}</span>
      )}
      <span class="lt">
        {line.spans.map((s, i) =>
          s.cls || s.fg || s.bg ? (
            <span key={i} class={s.cls || undefined} style={s.fg || s.bg ? { color: s.fg, backgroundColor: s.bg } : undefined}>
              {marked(s.text, query)}
            </span>
          ) : (
            <Fragment key={i}>{marked(s.text, query)}</Fragment>
          ),
        )}
      </span>
    </div>
  );
}

export interface LogViewProps {
  runId: string;
  /** The run is not final: follow it live. */
  live: boolean;
  /** Log length in bytes when the page loaded (decides whether to open on the tail). */
  size: number;
  /** Called when the follow ends (the run became final). */
  onEnd?: () => void;
}

/**
 * The log viewer: a virtual list over a LogBuffer (only the visible lines are in the DOM), live
 * follow while the reader is at the bottom, line links (#L12), search over every loaded line,
 * download of the raw log, and a tail-first open for logs over 1 MiB with "Load earlier".
 */
export function LogView({ runId, live, size, onEnd }: LogViewProps): JSX.Element {
  const { hash } = useLocation();
  const target = targetLine(hash);
  const [buffer] = useState(() => new LogBuffer({ from: size > TAIL_BYTES && target === null ? size - TAIL_BYTES : 0 }));
  const [, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [following, setFollowing] = useState(target === null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);
  const [query, setQuery] = useState('');
  const [hit, setHit] = useState(0);
  const [earlierBusy, setEarlierBusy] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const frame = useRef(0);
  const followingRef = useRef(following);
  followingRef.current = following;
  const onEndRef = useRef(onEnd);
  onEndRef.current = onEnd;
  const jumped = useRef<number | null>(null);

  // Re-render at most once per animation frame however fast chunks arrive.
  const changed = useCallback(() => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setVersion(buffer.version);
    });
  }, [buffer]);

  useEffect(() => {
    const controller = new AbortController();
    let attempt = 0;
    const run = async (): Promise<void> => {
      for (;;) {
        try {
          await readLog(runId, buffer, { follow: live, signal: controller.signal, changed });
          break;
        } catch (err) {
          if (controller.signal.aborted) return;
          if (!live || attempt > 20) {
            setError(`The log could not be read: ${errorText(err)}`);
            break;
          }
          // A broken follow resumes at the buffer's end offset.
          await new Promise((r) => setTimeout(r, Math.min(10000, 500 * 2 ** attempt++)));
          if (controller.signal.aborted) return;
        }
      }
      buffer.close();
      setLoading(false);
      changed();
      if (live) onEndRef.current?.();
    };
    void run();
    return () => {
      controller.abort();
      if (frame.current) cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [runId, live, buffer, changed]);

  const lines = buffer.lines;
  const total = lines.length;
  const linked = buffer.fromStart;

  const matches = useMemo(() => {
    if (!query) return [];
    const q = query.toLowerCase();
    const out: number[] = [];
    for (let i = 0; i < lines.length; i++) if (lineText(lines[i]).toLowerCase().includes(q)) out.push(i);
    return out;
    // buffer.version: recount as lines arrive
  }, [query, lines, buffer.version]);
  const matchSet = useMemo(() => new Set(matches), [matches]);

  const scrollToIndex = useCallback((i: number) => {
    const el = box.current;
    if (!el) return;
    setFollowing(false);
    el.scrollTop = Math.max(0, i * LINE_HEIGHT - el.clientHeight / 3);
    setScrollTop(el.scrollTop);
  }, []);

  // Follow: keep the end in view while following.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    setViewHeight(el.clientHeight);
    if (following) {
      el.scrollTop = el.scrollHeight;
      setScrollTop(el.scrollTop);
    }
  });

  // A line named in the URL: jump there once it is loaded (or once loading is done).
  useEffect(() => {
    if (target === null || jumped.current === target) return;
    if (total >= target || !loading) {
      jumped.current = target;
      scrollToIndex(Math.min(target, total) - 1);
    }
  }, [target, total, loading, scrollToIndex]);

  const onScroll = (): void => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - LINE_HEIGHT;
    if (atBottom !== followingRef.current) setFollowing(atBottom);
  };

  const loadEarlier = async (): Promise<void> => {
    setEarlierBusy(true);
    try {
      const to = buffer.start;
      const from = Math.max(0, to - TAIL_BYTES);
      const earlier = new LogBuffer({ from });
      earlier.pushBytes(await readRange(runId, from, to), from);
      const before = buffer.lines.length;
      buffer.prepend(earlier);
      const added = buffer.lines.length - before;
      if (box.current) box.current.scrollTop += added * LINE_HEIGHT;
      setVersion(buffer.version);
    } catch (err) {
      setError(`Earlier lines could not be read: ${errorText(err)}`);
    } finally {
      setEarlierBusy(false);
    }
  };

  const goMatch = (delta: number): void => {
    if (!matches.length) return;
    const next = (((hit + delta) % matches.length) + matches.length) % matches.length;
    setHit(next);
    scrollToIndex(matches[next]);
  };

  const first = Math.max(0, Math.floor(scrollTop / LINE_HEIGHT) - OVERSCAN);
  const last = Math.min(total, Math.ceil((scrollTop + viewHeight) / LINE_HEIGHT) + OVERSCAN);
  const rows: JSX.Element[] = [];
  const current = matches.length ? matches[Math.min(hit, matches.length - 1)] : -1;
  for (let i = first; i < last; i++) {
    const n = i + 1;
    let cls = '';
    if (target === n) cls += ' target';
    if (matchSet.has(i)) cls += i === current ? ' match current' : ' match';
    rows.push(<Line key={i} line={lines[i]} n={n} linked={linked} cls={cls} query={matchSet.has(i) ? query.toLowerCase() : ''} />);
  }

  return (
    <div class="log">
      <div class="log-toolbar">
        <form
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            goMatch(1);
          }}
        >
          <input
            type="search"
            aria-label="Search log"
            placeholder="Search log"
            value={query}
            onInput={(e) => {
              setQuery(e.currentTarget.value);
              setHit(-1);
            }}
          />
          <button type="button" onClick={() => goMatch(-1)} disabled={!matches.length}>
            Previous
          </button>
          <button type="submit" disabled={!matches.length}>
            Next
          </button>
          {query && (
            <span class="small" aria-live="polite">
              {matches.length ? `${hit >= 0 ? Math.min(hit, matches.length - 1) + 1 : 0} of ${matches.length}` : 'no match'}
            </span>
          )}
        </form>
        <span class="grow" />
        {!following && (
          <button
            type="button"
            onClick={() => {
              setFollowing(true);
              if (target !== null) history.replaceState(null, '', location.pathname + location.search);
            }}
          >
            Jump to end
          </button>
        )}
        <button type="button" onClick={() => void downloadLog(runId).catch((err) => setError(errorText(err)))}>
          Download
        </button>
      </div>
      {!buffer.fromStart && (
        <div class="log-earlier">
          <button type="button" onClick={() => void loadEarlier()} disabled={earlierBusy}>
            Load earlier
          </button>
          <span class="small muted">
            Showing the log from byte {buffer.start.toLocaleString()}; line numbers count from there.
          </span>
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="log-box" ref={box} onScroll={onScroll} role="log" aria-label="Run log" tabIndex={0}>
        <div class="log-spacer" style={{ height: `${total * LINE_HEIGHT}px` }}>
          <div class="log-rows" style={{ transform: `translateY(${first * LINE_HEIGHT}px)` }}>
            {rows}
          </div>
        </div>
      </div>
      <p class="log-status small muted">
        {total.toLocaleString()} lines, {(buffer.end - buffer.start).toLocaleString()} bytes
        {live && loading ? (following ? ' · following' : ' · paused: scroll to the bottom to follow') : ''}
        {loading && !live ? ' · loading…' : ''}
        {!loading && total === 0 ? ' · the log is empty' : ''}
      </p>
    </div>
  );
}
