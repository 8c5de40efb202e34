// AttuneBus: the daemon's two Unix sockets, on swift-nio. It moves NDJSON lines and commands; it knows the
// record schemas (AttuneEvents) but not what a call, a channel or a pitch is.
//
// ## events.sock (`EventBus`)
//
// - On connect a subscriber gets one `hello` line, then records as the engine publishes them.
// - It may send `{"subscribe": {"calls": [...], "kinds": [...], "types": [...], "frames": false}}` at any time;
//   each valid line replaces its filter and is acknowledged with
//   `{"type":"subscribed","v":1,"calls":[...]|null,"kinds":…,"types":…,"frames":false}`, after which the filter
//   is in force. Until then it gets everything but frames. Filter semantics: `SubscriptionFilter`.
// - A line that is not a valid subscribe line (garbage, invalid UTF-8, a bad filter, a line over 64 KiB) gets
//   one `{"type":"error","v":1,"error":"what was wrong; filter unchanged"}` line; the subscriber stays connected
//   with the filter it had. An overlong line is skipped to its newline without being buffered.
// - Each subscriber has a queue bounded in bytes and records (1 MiB / 10,000 by default) behind NIO's 64 KiB
//   write buffer and the kernel's socket buffer. When it is full, records are dropped for that subscriber only
//   and counted; it keeps dropping until it has drained everything queued, then gets
//   `{"type":"gap","v":1,"what":"records","count":N}` exactly where the loss began, and the stream goes on.
// - `shutdown` stops accepting, delivers what was published before it, lets each subscriber drain (gap
//   included) for a bounded time, then closes.
//
// ## control.sock (`ControlServer`)
//
// - The peer's credentials (`SO_PEERCRED`) are checked on connect against a `PeerPolicy` (root, the daemon's
//   uid, a configured group). A refused peer gets `{"ok":false,"error":"permission denied: pid P, uid U, gid G
//   may not use this socket (…)"}` and the connection is closed.
// - Each line is one command; each command gets exactly one reply line, in order:
//   `{"ok":true,…}` from the daemon's `ControlHandler`, or `{"ok":false,"error":"…"}` naming what was wrong
//   (invalid UTF-8, malformed JSON at byte N, unknown command, `start: missing field "call"`, `asr: field
//   "channel" must be an integer in 0…255`, a line over 1 MiB, …). The connection stays usable after any error.
//   Blank lines are ignored; a last line without a newline before EOF still counts.
//
// ## Socket files (`SocketFile`, `BusError`)
//
// A stale socket (nobody accepts on it) is replaced; a live one is never touched: `BusError.socketHeld` names the
// holder's pid, program and uid, and `exitCode` is 69. The socket is bound under a temporary name, given its
// mode (0660 events, 0600 control by default) and renamed into place, so it is never reachable with a wider mode.
