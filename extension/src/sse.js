// A parser for text/event-stream (the WHATWG rules that matter here): lines
// end in CRLF, LF or CR; "event:" names the event, "data:" lines are joined
// with "\n"; a blank line dispatches; lines starting with ":" are comments.
// EventSource cannot send the token header, so the service worker reads the
// stream with fetch and feeds the text here.

export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.pendingCR = false;
    this.reset();
  }

  reset() {
    this.event = '';
    this.data = [];
    this.hasData = false;
  }

  /** Feed a chunk of decoded text. */
  push(text) {
    let chunk = text;
    if (this.pendingCR && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCR = false;
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\n|\r/.exec(this.buffer);
      if (!match) break;
      if (match[0] === '\r' && match.index === this.buffer.length - 1) {
        // A lone CR at the end may be the first half of CRLF: take the line, skip a following LF.
        this.pendingCR = true;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  /** End of stream: an event without its blank line is dropped (per spec). */
  end() {
    this.buffer = '';
    this.reset();
  }

  line(line) {
    if (line === '') {
      if (this.hasData) this.onEvent({ event: this.event || 'message', data: this.data.join('\n') });
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    }
  }
}
