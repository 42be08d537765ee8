// What the client does when its connection closes, by close code
// (docs/display-protocol.md, "Close codes"), and how long it waits before
// the next try. Pure, so that the policy is tested without a browser.

export type CloseAction =
  | { kind: 'retry'; message: string }       // try again after a backoff, with a new ticket
  | { kind: 'stop'; message: string; resumable: boolean };  // tell the user; if resumable, a button tries again

// The gateway's reason text is shown only where the code alone says too
// little (a protocol error, a code this client does not know); for the
// others the client's own sentence reads better and stays consistent.
export function closeAction(code: number, reason: string): CloseAction {
  switch (code) {
    case 1000:
      return { kind: 'stop', message: 'Disconnected.', resumable: true };
    case 4400:
      return { kind: 'stop', message: `The desktop client and the gateway disagree: ${reason || 'protocol error'}.`, resumable: true };
    case 4404:
      return { kind: 'stop', message: 'This session has ended.', resumable: false };
    case 4409:
      return { kind: 'stop', message: 'This desktop was opened in another window or on another device.', resumable: true };
    case 4410:
      return { kind: 'stop', message: 'You logged off.', resumable: false };
    case 4411:
      return { kind: 'stop', message: 'The session was disconnected.', resumable: true };
    case 4401:
      return { kind: 'retry', message: 'The display ticket ran out; getting a new one.' };
    case 4503:
      return { kind: 'retry', message: 'The desktop is not running right now; waiting for it.' };
    case 4408:
      return { kind: 'retry', message: 'The connection was too slow; reconnecting.' };
    case 1001:
      return { kind: 'retry', message: 'The gateway is restarting; reconnecting.' };
    default:  // 1006 and the like: the network
      return { kind: 'retry', message: `The connection was lost; reconnecting.${reason ? ` (${reason})` : ''}` };
  }
}

// Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 15 s, each
// between 75 % and 125 % of that, so that a gateway restart is not met by
// every client at the same instant.
export class Backoff {
  private attempt = 0;
  constructor(private readonly random: () => number = Math.random,
              private readonly firstMs = 500, private readonly maxMs = 15000) {}
  next(): number {
    const base = Math.min(this.maxMs, this.firstMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(base * (0.75 + 0.5 * this.random()));
  }
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
}
