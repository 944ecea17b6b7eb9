/**
 * `useLive`: a page's data, loaded over REST and kept current by the feed. The page says which
 * events concern it; each one (or a resync) schedules one reload of the snapshot, debounced, so
 * a burst of events costs one request. When the server has no feed, the page polls instead.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api';
import { feed, type FeedEvent, type FeedStatus } from './feed';

export interface Live<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload(): void;
}

const POLL_MS = 5000;
const DEBOUNCE_MS = 250;

export function useLive<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  concerns: (event: FeedEvent, data: T | undefined) => boolean,
  debounceMs = DEBOUNCE_MS,
): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const state = useRef<{ inFlight: boolean; again: boolean; timer: ReturnType<typeof setTimeout> | undefined; alive: boolean; data: T | undefined }>({
    inFlight: false,
    again: false,
    timer: undefined,
    alive: true,
    data: undefined,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const concernsRef = useRef(concerns);
  concernsRef.current = concerns;

  const run = useCallback(async (): Promise<void> => {
    const s = state.current;
    if (s.inFlight) {
      s.again = true;
      return;
    }
    s.inFlight = true;
    try {
      const value = await loadRef.current();
      if (!s.alive) return;
      s.data = value;
      setData(value);
      setError(null);
    } catch (err) {
      if (s.alive) setError(errorText(err));
    } finally {
      s.inFlight = false;
      if (s.alive) setLoading(false);
    }
    if (s.again && s.alive) {
      s.again = false;
      void run();
    }
  }, []);

  const schedule = useCallback(() => {
    const s = state.current;
    if (s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void run();
    }, debounceMs);
  }, [run, debounceMs]);

  useEffect(() => {
    const s = state.current;
    s.alive = true;
    s.data = undefined;
    setData(undefined);
    setLoading(true);
    let unsubscribe: (() => void) | undefined = undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    const onStatus = (status: FeedStatus): void => {
      if (status === 'unavailable' && !poll) poll = setInterval(schedule, POLL_MS);
      if (status === 'live' && poll) {
        clearInterval(poll);
        poll = undefined;
      }
    };
    const offStatus = feed.onStatus(onStatus);
    // Subscribed before the snapshot is read: an event that lands while it loads triggers one
    // more load, so the page can never settle on a snapshot older than the last event.
    unsubscribe = feed.subscribe((event) => {
      if (event.kind === 'resync' || concernsRef.current(event, s.data)) {
        if (s.inFlight) s.again = true;
        else schedule();
      }
    });
    void run();
    return () => {
      s.alive = false;
      if (s.timer) clearTimeout(s.timer);
      s.timer = undefined;
      if (poll) clearInterval(poll);
      offStatus();
      unsubscribe?.();
    };
  }, deps);

  return { data, error, loading, reload: schedule };
}

/** The current time, refreshed every `ms` while `active` (a running run's duration). */
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
  return now;
}

/** The feed's status, for the live/reconnecting indicator. */
export function useFeedStatus(): FeedStatus {
  const [status, setStatus] = useState<FeedStatus>(feed.status);
  useEffect(() => feed.onStatus(setStatus), []);
  return status;
}
