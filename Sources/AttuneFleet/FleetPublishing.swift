import AttuneEvents
import Foundation
import Logging
import NIOCore

/// The publisher thread's work on the stream: batches out and their acks back, what the stream refuses, a lost
/// stream made again, each call's seq offset after a restart, and the `gap` records for what was dropped.
extension FleetNode {
    /// Reads the stream's duplicate window, on which the seq decisions hang; a longer one than configured only makes
    /// a reused call id continue where counting from 1 would also have been safe.
    func readDuplicateWindow(_ js: JetStream) {
        let configured = settings.stream.duplicateWindowSeconds
        do throws(NatsError) {
            let window = try js.duplicateWindow(settings.stream.name)
            if window > configured {
                logger.notice("the stream's duplicate window is longer than duplicate_window_s; reused call ids are judged by the stream's",
                              metadata: ["stream": "\(settings.stream.name)", "window_s": "\(window)", "duplicate_window_s": "\(configured)"])
            }
            state.withLockedValue { $0.duplicateWindow = max(configured, window) }
        } catch {
            logger.notice("could not read the stream's duplicate window; duplicate_window_s stands for it",
                          metadata: ["error": "\(error)"])
        }
    }

    /// What one round of the publisher came to; the run loop decides when the next starts.
    enum Round {
        /// Nothing was waiting.
        case idle
        /// Every record sent was acknowledged, or dropped as refused for good.
        case published
        /// Some records go again after a backoff; why, for the log.
        case retry(String)
        /// The stream is gone and was not created again; why, for the log.
        case streamMissing(String)
        /// The stream was gone and has been created again: the buffered records go out at once.
        case streamCreated
    }

    /// Seconds before the next round after `failed` rounds failed in a row: 0.1 s doubling up to 5 s.
    static func backoff(_ failed: Int) -> Double { min(5, 0.1 * Double(1 << min(max(failed - 1, 0), 6))) }

    /// Sends one batch and waits for its acks.
    func publishBatch(_ js: JetStream) -> Round {
        resolveSeqOffsets(js)
        // Only references are copied under the lock (the record thread waits on it); subjects and ids are built after.
        var picked: [(base: String, call: String, offset: UInt64, item: Item)] = []
        var taken: [(call: String, count: Int)] = []
        let node = settings.node
        let prefix = settings.stream.prefix
        let limit = settings.batchRecords
        state.withLockedValue { s in
            guard !s.order.isEmpty else { return }
            let perCall = max(16, limit / s.order.count)
            for i in 0..<s.order.count where picked.count < limit {
                let call = s.order[(s.cursor + i) % s.order.count]
                guard var b = s.calls[call], !b.items.isEmpty, let offset = b.seqOffset else { continue }
                let base = b.subjectBase ?? "\(prefix).\(node).\(FleetSettings.token(call))."
                if b.subjectBase == nil { b.subjectBase = base }
                let n = min(b.items.count, perCall, limit - picked.count)
                for k in 0..<n {
                    picked.append((base, call, offset, b.items[b.items.index(b.items.startIndex, offsetBy: k)]))
                }
                s.calls[call] = b
                taken.append((call, n))
            }
            s.cursor = (s.cursor + 1) % s.order.count
        }
        guard !picked.isEmpty else {
            finishEndedCalls()
            return .idle
        }
        var ids: [String] = []
        ids.reserveCapacity(picked.count)
        var sendFailure: NatsError?
        for m in picked {
            let subject = m.base + m.item.type
            let id = "\(node):\(m.call):\(m.item.seq + m.offset)"
            ids.append(id)
            // A typed-throws closure through withUnsafeBytes crashes Swift 6.3's IRGen; carry the error out instead.
            let failure: NatsError? = m.item.bytes.withUnsafeBytes { p in
                do throws(NatsError) { try js.publishAsync(subject: subject, msgID: id, data: p) } catch { return error }
                return nil
            }
            if let failure {
                sendFailure = failure
                logger.debug("publish failed", metadata: ["error": "\(failure)"])
                break
            }
        }
        let acks = js.waitForAcks(timeout: settings.ackTimeout)
        // A refusal about the message itself (too large for the stream, …) gets the same answer however often the
        // record is sent: it is dropped and reported like a buffer-full drop, or it would hold up its call (and
        // the batch) for ever. Anything else (no ack, a full disk, no stream) may pass later: the batch goes again.
        var refusedAt: [Int: PublishRefusal] = [:]
        var missing: PublishRefusal?
        var retryReason = sendFailure.map { "\($0)" } ?? acks.unanswered.map { "\($0)" }
        if !acks.refusals.isEmpty {
            let index = Dictionary(ids.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
            for r in acks.refusals {
                guard let i = index[r.msgID] else { continue }      // an answer to an earlier, abandoned batch
                if r.kind == .message { refusedAt[i] = r } else if retryReason == nil { retryReason = r.description }
                if r.kind == .streamMissing && missing == nil { missing = r }
            }
        }
        let complete = retryReason == nil
        settle(taken, picked.map(\.item.type), refusedAt: refusedAt, complete: complete)
        guard complete else {
            state.withLockedValue { $0.stats.retries += 1 }
            if let missing { return streamGone(js, missing) }
            return .retry(retryReason!)
        }
        state.withLockedValue { $0.stats.streamMissing = false }
        reportDrops()
        // Also under constant load, when batches are never empty: ended calls must not pile up in `order`.
        finishEndedCalls()
        return .published
    }

    /// After publishes found no stream: whether it is really gone (not a leader election in a cluster) and, when
    /// this node creates streams, creates it again, so the records buffered meanwhile go out. libnats reconnects to a
    /// nats-server restarted without its store as to any other, so only publishing finds the stream gone.
    func streamGone(_ js: JetStream, _ refusal: PublishRefusal) -> Round {
        let name = settings.stream.name
        do throws(NatsError) {
            if try js.streamExists(name) {
                state.withLockedValue { $0.stats.streamMissing = false }
                return .retry("\(refusal)")
            }
        } catch {
            return .retry("\(refusal); \(error)")
        }
        var reason = "\(refusal); js_GetStreamInfo(\(name)): stream not found"
        if settings.createStream {
            do throws(NatsError) {
                let outcome = try js.ensureStream(settings.stream)
                logger.warning("JetStream stream \(name) was missing (deleted, or nats-server lost its store): created it again; the buffered records follow",
                               metadata: ["stream": "\(name)", "setup": "\(outcome)"])
                readDuplicateWindow(js)
                state.withLockedValue { $0.stats.streamMissing = false }
                return .streamCreated
            } catch {
                reason += "; creating it failed: \(error)"
            }
        } else {
            reason += "; this node does not create streams (attuned --nats-setup does)"
        }
        state.withLockedValue { $0.stats.streamMissing = true }
        return .streamMissing(reason)
    }

    /// Takes a sent batch out of the buffers: all of it when `complete`, else only the records refused for good
    /// (`refusedAt`, by position in the batch), which are counted as dropped and reported in the call's next `gap`
    /// record. `taken` is each call's share of the batch, in batch order; `types` each record's type.
    func settle(_ taken: [(call: String, count: Int)], _ types: [String], refusedAt: [Int: PublishRefusal], complete: Bool) {
        if refusedAt.isEmpty && !complete { return }
        var firstRefusals: [(call: String, count: Int, reason: String)] = []
        state.withLockedValue { s in
            var start = 0
            for t in taken {
                defer { start += t.count }
                let refused = (start..<(start + t.count)).filter { refusedAt[$0] != nil }
                if refused.isEmpty {
                    guard complete else { continue }
                    s.calls[t.call]!.items.removeFirst(t.count)
                    s.stats.buffered -= t.count
                    s.stats.published += t.count
                    continue
                }
                // The batch is the first `count` records of the call's buffer (the record thread only appends).
                let sent = Array(s.calls[t.call]!.items.prefix(t.count))
                s.calls[t.call]!.items.removeFirst(t.count)
                if !complete {
                    for k in (0..<t.count).reversed() where refusedAt[start + k] == nil { s.calls[t.call]!.items.prepend(sent[k]) }
                }
                s.stats.buffered -= complete ? t.count : refused.count
                if complete { s.stats.published += t.count - refused.count }
                s.stats.dropped += refused.count
                // A refused gap record is counted but not reported by another gap, which could be refused in turn.
                let records = refused.filter { types[$0] != "gap" }.count
                s.calls[t.call]!.dropped += records
                s.calls[t.call]!.refused += records
                if !s.calls[t.call]!.refusalLogged {
                    s.calls[t.call]!.refusalLogged = true
                    firstRefusals.append((t.call, refused.count, refusedAt[refused[0]]!.description))
                }
            }
        }
        for r in firstRefusals {
            logger.warning("JetStream refuses records of this call for good: they are dropped, counted, and reported in a gap record",
                           metadata: ["call": "\(r.call)", "records": "\(r.count)", "reason": "\(r.reason)"])
        }
    }

    /// Decides the seq offset of every call new to this run, asking the stream for each, before the call's first
    /// publish. A lookup that fails or times out leaves that call, and the others waiting in this round, counting
    /// from 1 as before: the publisher must not stall one timeout per call while NATS is slow.
    func resolveSeqOffsets(_ js: JetStream) {
        let calls: [String] = state.withLockedValue { s in
            defer { s.unresolved.removeAll() }
            return s.unresolved
        }
        guard !calls.isEmpty else { return }
        var offsets: [(call: String, offset: UInt64)] = []
        var failure: NatsError?
        var fromOne: [String] = []
        for call in calls {
            var offset: UInt64 = 0
            if failure == nil {
                do throws(NatsError) { offset = try lastStoredSeq(call, js) } catch { failure = error }
            }
            if failure != nil { fromOne.append(call) }
            offsets.append((call, offset))
        }
        if let failure {
            logger.notice("could not ask the stream where an earlier run left these call ids: they count seq from 1, so the stream drops their records if they ran on this node within the duplicate window",
                          metadata: ["calls": "\(fromOne.prefix(10).joined(separator: ","))\(fromOne.count > 10 ? ",…" : "")",
                                     "error": "\(failure)"])
        }
        state.withLockedValue { s in
            for (call, offset) in offsets { s.calls[call]?.seqOffset = offset }
        }
    }

    /// The seq of the last record of `call` this node stored in the stream within the duplicate window (a run
    /// before a restart), or 0 when there is none.
    func lastStoredSeq(_ call: String, _ js: JetStream) throws(NatsError) -> UInt64 {
        let node = settings.node
        // One lookup over the call's four-token subjects, whatever their types: the server takes the wildcard.
        let subject = "\(settings.stream.prefix).\(node).\(FleetSettings.token(call)).*"
        guard let last = try js.lastMessage(stream: settings.stream.name, subject: subject, timeout: settings.ackTimeout),
              let id = last.msgID, let stored = last.timestampNanoseconds else { return 0 }
        // A stream that other tools write to as well may hold a record there without this node's id for the call:
        // only the call's own id says where it stopped.
        let own = "\(node):\(call):"
        guard id.hasPrefix(own), let seq = UInt64(id.dropFirst(own.count)) else { return 0 }
        // Continuing is always safe; counting from 1 only once the server has forgotten the ids. Its timer purges
        // them a little after the window, and its clock is not ours: a second more covers both.
        let age = Date().timeIntervalSince1970 - Double(stored) / 1e9
        guard age < state.withLockedValue({ $0.duplicateWindow }) + 1 else { return 0 }
        logger.info("call id stored by an earlier run within the duplicate window; its seqs continue",
                    metadata: ["call": "\(call)", "after": "\(seq)", "age_s": "\(Int(age.rounded()))"])
        return seq
    }

    /// Puts a `gap` record behind the records of each call that lost some, now that records flow again.
    func reportDrops() {
        let reports: [(call: String, count: Int, refused: Int)] = state.withLockedValue { s in
            for call in s.order where (s.calls[call]?.dropped ?? 0) > 0 { Self.queueGap(call: call, &s) }
            defer { s.gapsToLog.removeAll() }
            return s.gapsToLog
        }
        for r in reports {
            logger.warning(r.refused == r.count ? "records dropped for NATS, refused by the stream; gap record queued"
                           : "records dropped for NATS while its buffer was full\(r.refused > 0 ? " or refused by the stream" : ""); gap record queued",
                           metadata: ["call": "\(r.call)", "records": "\(r.count)", "refused": "\(r.refused)"])
        }
    }

    /// Appends a `gap` record with the call's count of dropped records and resets the count.
    static func queueGap(call: String, _ s: inout State) {
        let b = s.calls[call]!
        var line = JSONLine()
        line.begin()
        GapRecord.records(count: b.dropped, call: call).write(to: &line)
        line.end()
        s.calls[call]!.items.append(Item(seq: b.nextSeq, type: "gap", bytes: line.bytes))
        s.calls[call]!.nextSeq += 1
        s.calls[call]!.dropped = 0
        s.calls[call]!.refused = 0
        s.stats.buffered += 1
        s.stats.gaps += 1
        s.gapsToLog.append((call, b.dropped, b.refused))
    }

    /// Forgets calls whose `call_end` has been published, keeping their next sequence for the duplicate window.
    func finishEndedCalls() {
        let now = Date().timeIntervalSince1970
        state.withLockedValue { s in
            let window = s.duplicateWindow
            let done = s.order.filter { c in s.calls[c].map { $0.ended && $0.items.isEmpty && $0.dropped == 0 } ?? true }
            guard !done.isEmpty || !s.endedSeqs.isEmpty else { return }
            for c in done {
                if let b = s.calls.removeValue(forKey: c) { s.endedSeqs[c] = (b.nextSeq + (b.seqOffset ?? 0), now) }
            }
            if !done.isEmpty {
                let gone = Set(done)
                s.order.removeAll { gone.contains($0) }
                s.cursor = 0
            }
            s.endedSeqs = s.endedSeqs.filter { now - $0.value.at < window }
        }
    }
}
