/**
 * Bounds what a pipelining client can make node:http hold for it.
 *
 * node:http parses every pipelined request it has read and hands each to the handler at once,
 * and stops reading only while written answers pile up past the socket's high-water mark. An
 * inference answer comes later (the model runs asynchronously), so a client that writes
 * megabytes of pipelined requests and never reads the answers made the server parse and queue
 * all of them (30 such clients: +500 MiB). Here a connection stops reading while one of its
 * requests is unanswered and another has arrived, and reads on once at most one is left
 * unanswered (that one may still need the rest of its body) and its unread answers are within
 * `maxUnreadResponseBytes`: per connection, at most the requests in one socket read (64 KiB)
 * wait, and the answers the client has not read stay within the bound plus those requests'.
 *
 * node:http resumes a socket itself (when a body is read, or an answer is written); the socket's
 * `resume` is wrapped so that those calls wait too.
 */
import { IncomingMessage, ServerResponse } from 'http';
import { Socket } from 'net';

const kUnanswered = Symbol('unanswered');
const kResume = Symbol('resume');
const kPaused = Symbol('pausedHere');

interface GuardedSocket extends Socket {
  [kUnanswered]?: number;
  [kResume]?: () => void;
  [kPaused]?: boolean;
}

/**
 * Returns the per-request hook for the server's request listener: counts the request as
 * unanswered on its connection until its answer closes, and pauses a pipelining client.
 */
export function createPipeliningBound(maxUnreadResponseBytes: number): (req: IncomingMessage, res: ServerResponse) => void {
  const answered = (socket: GuardedSocket): void => {
    const left = socket[kUnanswered]! - 1;
    socket[kUnanswered] = left;
    if (left <= 1 && socket[kPaused]) readOn(socket);
  };
  const readOn = (socket: GuardedSocket): void => {
    if (socket.destroyed || socket[kUnanswered]! > 1) return;
    if (socket.writableLength > maxUnreadResponseBytes) {
      // The client does not read its answers: read none of its requests until it does.
      socket.once('drain', () => readOn(socket));
      return;
    }
    socket[kPaused] = false;
    socket[kResume]!();
  };
  return (req, res) => {
    const socket = req.socket as GuardedSocket;
    if (socket[kUnanswered] === undefined) guard(socket);
    const unanswered = socket[kUnanswered]! + 1;
    socket[kUnanswered] = unanswered;
    if (unanswered > 1 && !socket[kPaused]) {
      socket[kPaused] = true;
      socket.pause();
    }
    res.once('close', () => answered(socket));
  };
}

function guard(socket: GuardedSocket): void {
  socket[kUnanswered] = 0;
  const resume = socket.resume;
  socket[kResume] = () => resume.call(socket);
  socket.resume = function guardedResume(this: GuardedSocket) {
    return this[kPaused] ? this : resume.call(this);
  };
}
