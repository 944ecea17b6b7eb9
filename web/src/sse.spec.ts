import { SseParser } from './sse';

describe('SseParser', () => {
  it('parses frames with id, event and data', () => {
    const p = new SseParser();
    expect(p.push('id: 7\nevent: run\ndata: {"a":1}\n\n')).toEqual([{ id: '7', event: 'run', data: '{"a":1}' }]);
    expect(p.lastEventId).toBe('7');
  });

  it('joins multi-line data, defaults the event to message, ignores comments', () => {
    const p = new SseParser();
    expect(p.push(': keep-alive\n\ndata: a\ndata: b\n\n')).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  it('handles any chunking, including a \\r\\n split between chunks', () => {
    const text = 'id: 1\r\nevent: batch\r\ndata: {"x":"y"}\r\n\r\nid: 2\revent: run\rdata: {}\r\r';
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const frames = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(frames).toEqual([
        { id: '1', event: 'batch', data: '{"x":"y"}' },
        { id: '2', event: 'run', data: '{}' },
      ]);
    }
    const p = new SseParser();
    const frames = [...text].flatMap((c) => p.push(c));
    expect(frames.map((f) => f.id)).toEqual(['1', '2']);
  });

  it('does not dispatch a frame before its blank line', () => {
    const p = new SseParser();
    expect(p.push('id: 3\nevent: run\ndata: {}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ id: '3', event: 'run', data: '{}' }]);
  });

  it('keeps the retry advice', () => {
    const p = new SseParser();
    p.push('retry: 1500\n\n');
    expect(p.retry).toBe(1500);
  });
});
