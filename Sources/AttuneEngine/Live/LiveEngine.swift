import AttuneAudio
import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneRecognizer
import AttuneText
import CALSA
import Foundation
import Synchronization

/// The daemon's engine: starts and stops calls (capture thread → rings → pinned DSP worker), turns every
/// call's features into records on one record thread, and hands them to a ``LiveRecordSink``.
///
/// Threads: one capture thread per source, the worker pool, and the record thread, which builds records
/// (strings, JSON) off the DSP path, publishes `call_end` when a call's worker has finished it, and releases
/// the call. Control methods may be called from any thread.
public final class LiveEngine: Sendable {
    public let configuration: LiveEngineConfiguration
    private let sink: any LiveRecordSink
    private let pool: DSPWorkerPool
    private let calls = LockedValue<[String: LiveCall]>([:])
    /// Bumped (under the table's lock) whenever a call joins or leaves the table, so the record thread copies the
    /// table only when it changed, not on every round.
    private let callsChanged = Atomic<Int>(0)
    /// Calls with something for the record thread (outputs, the end, text, `call_start`): rung by their worker,
    /// the control side and the recognisers, so the record thread visits only those instead of every call's
    /// cold cache lines on every round.
    private let recordReady: ReadySet
    private let running = Atomic<Bool>(true)
    private let shuttingDown = Atomic<Bool>(false)
    private let recordThreadDone = Atomic<Bool>(false)
    private let started = Atomic<Int>(0)
    private let ended = Atomic<Int>(0)
    private let published = Atomic<Int>(0)
    /// Totals of calls that have ended, so `stats` stays monotonic.
    private let endedFrames = Atomic<Int>(0)
    private let endedDrops = Atomic<Int>(0)
    private let endedXruns = Atomic<Int>(0)
    /// Who reads the daemon's standard input. It is one stream: a second `stdin:` call beside the first would take
    /// every other block of its bytes, and once the first has ended the stream is spent (at its end, or left
    /// part-read by a stop), so one call per run reads it.
    private let standardInput = LockedValue(StandardInputUse.unread)

    private enum StandardInputUse {
        case unread
        /// Claimed by a start (which gives it back if it fails before capture starts), then read by the call.
        case reading(call: String)
        case read(call: String)
    }

    public init(configuration: LiveEngineConfiguration, sink: some LiveRecordSink) {
        self.configuration = configuration
        self.sink = sink
        pool = DSPWorkerPool(workers: configuration.workers, maximumCalls: configuration.maximumCalls)
        recordReady = ReadySet(capacity: configuration.maximumCalls)
        let thread = Thread { [self] in
            // Named from inside: Foundation's `Thread.name` set before `start` does not reach the kernel on Linux.
            _ = attune_set_thread_name("attune-records")
            recordLoop()
            recordThreadDone.store(true, ordering: .releasing)
        }
        thread.name = "attune-records"
        thread.start()
    }

    /// Opens the source, sets up the call (FFT plans, resamplers: here, never on a worker), pins it to a worker,
    /// publishes `call_start` and starts capture.
    ///
    /// `commit` is asked once everything slow is done (the source open, the recogniser load), right before the call
    /// joins the table: false means whoever started it has given up waiting, and the call is torn down unseen
    /// (no `call_start`), with an error.
    @discardableResult
    public func start(_ request: LiveCallRequest, commit: () -> Bool = { true }) throws(LiveEngineError) -> LiveCallInfo {
        guard !shuttingDown.load(ordering: .acquiring) else { throw LiveEngineError("the daemon is shutting down", exitCode: 69) }
        try Self.checkCallID(request.call)
        let maximum = configuration.maximumCalls
        let refusal: LiveEngineError? = calls.withLock { table in
            if table[request.call] != nil { return LiveEngineError("call '\(request.call)' is already running", exitCode: 64) }
            if table.count >= maximum { return LiveEngineError("\(maximum) calls are running; no more are accepted", exitCode: 69) }
            return nil
        }
        if let refusal { throw refusal }
        let source: any CaptureSource
        let uri: SourceURI
        do { uri = try SourceURI(parsing: request.source) } catch { throw LiveEngineError(error.description, exitCode: error.exitCode) }
        // Claimed before the open, so two starts at once cannot both take it; given back on any failure below,
        // up to the moment the call joins the table and capture starts.
        var holdsStandardInput = false
        if case .stdin = uri.kind {
            try claimStandardInput(for: request.call)
            holdsStandardInput = true
        }
        defer { if holdsStandardInput { standardInput.withLock { $0 = .unread } } }
        do { source = try CaptureSources.open(uri, options: configuration.capture) } catch {
            throw LiveEngineError(error.description, exitCode: error.exitCode)
        }
        let lossless: Bool
        switch uri.kind {
        case .file(_, let speed): lossless = speed == .max
        case .stdin: lossless = true
        case .alsa: lossless = false
        }
        let roles: [Role]
        if let r = request.roles {
            if let problem = roleCountProblem(given: r.count, channels: source.channelCount, source: source.name) {
                source.stop()
                throw LiveEngineError(problem, exitCode: 64)
            }
            roles = r
        } else {
            roles = source.roles.map { Role(rawValue: $0.rawValue) ?? .unknown }
        }
        let session: CallSession
        do { session = try CallSession(sampleRate: source.sampleRate, channels: source.channelCount) } catch {
            source.stop()
            throw LiveEngineError(error.description, exitCode: error.exitCode)
        }
        let recognizers: [RecognizerThread]
        do { recognizers = try startRecognition(request, session: session, roles: roles) } catch {
            source.stop()
            throw error
        }
        let frames = max(Int(configuration.ringSeconds * Double(source.sampleRate)), 4 * source.blockFrames)
        let rings = CallRings(channels: source.channelCount, minimumFrames: frames)
        var options = AnalysisOptions(call: request.call, frames: true, roles: roles)
        options.fusion.consent = request.consent
        options.fusion.language = request.language
        options.fusion.emotionRoles = configuration.emotionRoles
        options.fusion.settings = configuration.fusionSettings
        options.textAnalyzer = configuration.textAnalyzer
        let recorder = CallRecorder(options: options, channels: source.channelCount, hopSeconds: session.settings.hopSeconds)
        guard commit() else {
            source.stop()
            for r in recognizers { r.requestStop() }
            throw LiveEngineError("call '\(request.call)': abandoned, the start took longer than its caller waits", exitCode: 69)
        }
        let bell = recordReady.claim()
        let ticket = pool.adopt(session, rings: rings, notify: bell)
        let sink = RingSink(rings: rings, lossless: lossless)
        let call = LiveCall(request: request, source: source, roles: roles, ticket: ticket, sink: sink, recorder: recorder,
                            recognizers: recognizers, recordBell: bell)
        let inserted = calls.withLock { table -> Bool in
            guard table[request.call] == nil else { return false }
            table[request.call] = call
            callsChanged.add(1, ordering: .releasing)
            return true
        }
        guard inserted else {
            // Lost a race with a start of the same id: end this one quietly (its ticket finishes and is reaped).
            sink.captureEnded(.stopped)
            source.stop()
            for r in recognizers { r.requestStop() }
            if let bell { recordReady.release(bell) }
            throw LiveEngineError("call '\(request.call)' is already running", exitCode: 64)
        }
        holdsStandardInput = false
        started.add(1, ordering: .relaxed)
        call.pendingStart.store(true, ordering: .releasing)
        bell?.ring()
        do { try source.start(sink) } catch {
            sink.captureEnded(.error(error))
        }
        return call.info
    }

    /// Takes standard input for `call`, or says which call has (or had) it.
    private func claimStandardInput(for call: String) throws(LiveEngineError) {
        let refusal: String? = standardInput.withLock { use in
            switch use {
            case .unread:
                use = .reading(call: call)
                return nil
            case .reading(let reader):
                return "standard input is already read by call '\(reader)'; only one call can read it"
            case .read(let reader):
                return "standard input was read by call '\(reader)', which has ended; it is read once per run of the daemon"
            }
        }
        if let refusal { throw LiveEngineError(refusal, exitCode: 69) }
    }

    /// Stops a call's capture; its last frames, segments and summary follow, then `call_end` (`stopped`).
    public func stop(call id: String) throws(LiveEngineError) {
        guard let call = calls.withLock({ $0[id] }) else { throw LiveEngineError("no call '\(id)'", exitCode: 64) }
        call.source.stop()
    }

    /// The running calls, by id.
    public func list() -> [LiveCallInfo] {
        calls.withLock { Array($0.values) }.map(\.info).sorted { $0.call < $1.call }
    }

    public func info(call id: String) -> LiveCallInfo? { calls.withLock { $0[id] }?.info }

    public func stats() -> LiveEngineStats {
        let live = calls.withLock { Array($0.values) }
        return LiveEngineStats(
            callsActive: live.count, callsStarted: started.load(ordering: .relaxed), callsEnded: ended.load(ordering: .relaxed),
            framesAnalysed: endedFrames.load(ordering: .relaxed) + live.reduce(0) { $0 + $1.ticket.framesAnalysed },
            droppedFrames: endedDrops.load(ordering: .relaxed) + live.reduce(0) { $0 + $1.ticket.rings.droppedFrames },
            xruns: endedXruns.load(ordering: .relaxed) + live.reduce(0) { $0 + $1.source.counters.xrunsRecovered },
            recordsPublished: published.load(ordering: .relaxed), workers: pool.workerCount)
    }

    /// Stores ASR text for a running call: the emotion layer reads it, and a transcript's words (not the built-in
    /// recogniser's) join the segments they fall in (``CallRecorder/add(_:)``). Returns false when the call was started
    /// without consent: its text is dropped at once, since nothing of it may be published or kept (design.md, Privacy).
    @discardableResult
    public func addTranscript(call id: String, _ utterance: TranscriptUtterance) throws(LiveEngineError) -> Bool {
        guard let call = calls.withLock({ $0[id] }) else { throw LiveEngineError("no call '\(id)'", exitCode: 64) }
        guard utterance.channel < call.roles.count else {
            throw LiveEngineError("call '\(id)' has \(call.roles.count) channel\(call.roles.count == 1 ? "" : "s"); no channel \(utterance.channel)", exitCode: 65)
        }
        guard call.request.consent else { return false }
        call.addTranscript(utterance)
        return true
    }

    /// A recogniser thread per recognised channel, each fed by a tap on `session` and delivering its utterances to
    /// the call through ``addTranscript(call:_:)``. None without `asr`, or without consent (nothing is published).
    /// The decoders load here (about a second each) so that a missing model is the start command's error.
    private func startRecognition(_ request: LiveCallRequest, session: CallSession, roles: [Role]) throws(LiveEngineError) -> [RecognizerThread] {
        guard let asr = request.asr, request.consent else { return [] }
        var threads: [RecognizerThread] = []
        for c in recognisedChannels(roles: roles, channels: session.channelCount) {
            let recognizer: SpeechRecognizer
            do { recognizer = try SpeechRecognizer(configuration: asr, channel: c, sampleRate: session.inputRate) } catch {
                for t in threads { t.requestStop() }
                throw LiveEngineError(error.message, exitCode: error.exitCode)
            }
            // Room for a long utterance's decode on a busy machine; beyond it the recogniser loses audio, counted.
            let ring = SPSCRingBuffer(minimumCapacity: Int(Self.recognizerRingSeconds * Double(session.inputRate)))
            session.attachTap(ring, channel: c)
            let id = request.call
            threads.append(RecognizerThread(recognizer, ring: ring) { [weak self] u in _ = try? self?.addTranscript(call: id, u) })
        }
        return threads
    }

    /// Audio a recogniser's ring holds.
    static let recognizerRingSeconds = 32.0

    /// Stops every call (`call_end` reason `shutdown`), lets each flush its pending frames and segments, waits
    /// up to `timeout` seconds for the records to be handed to the sink, then stops the threads. Returns
    /// whether everything was flushed in time.
    @discardableResult
    public func shutdown(timeout: Double = 10) -> Bool {
        shuttingDown.store(true, ordering: .releasing)
        for call in calls.withLock({ Array($0.values) }) { call.source.stop() }
        let deadline = Date().addingTimeInterval(timeout)
        while calls.withLock({ !$0.isEmpty }) && Date() < deadline { usleep(2000) }
        let clean = calls.withLock { $0.isEmpty }
        running.store(false, ordering: .releasing)
        while !recordThreadDone.load(ordering: .acquiring) { usleep(1000) }
        pool.shutdown()
        // Calls whose workers did not finish in time (an overloaded machine) still get what they produced and a
        // `call_end`, so no subscriber waits for a call that never ends. The record thread and the workers have
        // stopped, so this thread is now the only consumer of the calls' output queues.
        var line = RecordWriter()
        for call in calls.withLock({ Array($0.values) }) {
            var revisit = false
            _ = drain(call, &line, revisit: &revisit)
            // Its worker may have finished it since the deadline: then drain() has just ended it properly.
            guard calls.withLock({ $0[call.id] === call }) else { continue }
            // Their threads finish on their own; their text has nowhere to go once the call is gone.
            for r in call.recognizers { r.requestStop() }
            let t = call.analysedSeconds
            emit(CallEndRecord(call: call.id, reason: .shutdown,
                               message: "not flushed within \(timeout) s of shutdown; audio after t = \(t) s was not analysed", t: t),
                 route: RecordRoute(type: "call_end", call: call.id), &line)
            flush(&line)
            remove(call)
        }
        return clean
    }

    /// Calls running now.
    public var callCount: Int { calls.withLock { $0.count } }

    /// The most calls that may run at once (`max_calls`).
    public var maximumCalls: Int { configuration.maximumCalls }

    /// Whether a call could start now (fewer than `maximumCalls` run, and the engine is not shutting down).
    public var hasRoom: Bool { !shuttingDown.load(ordering: .acquiring) && callCount < maximumCalls }

    /// Call ids go into JSON and NATS subjects: a short printable name without spaces, dots or wildcards.
    public static func checkCallID(_ id: String) throws(LiveEngineError) {
        guard !id.isEmpty, id.utf8.count <= 128 else {
            throw LiveEngineError("call id must be 1-128 bytes long", exitCode: 64)
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:@+=")
        guard id.allSatisfy({ allowed.contains($0) }) else {
            throw LiveEngineError("call id '\(id)' may hold only letters, digits and - _ : @ + =", exitCode: 64)
        }
    }

    // MARK: The record thread

    private func recordLoop() {
        var line = RecordWriter()
        var idle = timespec(tv_sec: 0, tv_nsec: 2_000_000)
        // The record thread's own view of the table: which call holds each doorbell slot, and the calls without
        // one (more than `maximumCalls` slots claimed cannot happen, but a call without a bell is polled, never lost).
        var bySlot = [LiveCall?](repeating: nil, count: recordReady.capacity)
        var polled: [LiveCall] = []
        var due: [LiveCall] = []
        var again: [LiveCall] = []
        var seen = -1
        while running.load(ordering: .acquiring) {
            var worked = false
            due.removeAll(keepingCapacity: true)
            let version = callsChanged.load(ordering: .acquiring)
            if version != seen {
                // A call joined or left: remap the slots and visit everyone once, which also covers a ring taken
                // before its call was mapped (rare: calls start and end a few times a second at most).
                let all = calls.withLock { Array($0.values) }
                for i in bySlot.indices { bySlot[i] = nil }
                polled.removeAll(keepingCapacity: true)
                for call in all {
                    if let bell = call.recordBell { bySlot[bell.slot] = call } else { polled.append(call) }
                }
                seen = version
                recordReady.take { _ in }
                due.append(contentsOf: all)
            } else {
                due.append(contentsOf: again)
                due.append(contentsOf: polled)
                recordReady.take { slot in
                    if let call = bySlot[slot] { due.append(call) }
                }
            }
            again.removeAll(keepingCapacity: true)
            // A call may be listed twice (rung and revisited); draining it twice is harmless, and one that ended
            // in between is skipped (``LiveCall/removed``).
            for call in due {
                var revisit = false
                if drain(call, &line, revisit: &revisit) { worked = true }
                if revisit { again.append(call) }
            }
            // One batch for the round, not one per call: at hundreds of calls a call's visit holds a block's worth
            // of frames (a few kB), and a publish per call cost the bus a copy, a lock and a socket write each.
            // A round lasts a few milliseconds at most, and `emit` still hands on every 32 kB.
            flush(&line)
            // Sessions finished by the workers are released here, off the DSP threads.
            _ = pool.reapFinished()
            if !worked { nanosleep(&idle, nil) }
        }
    }

    /// Adds what `call` has produced to `line`'s batch, which the caller publishes; ends the call when its worker has
    /// finished it (publishing the batch first, `call_end` last).
    /// Sets `revisit` when the call must be looked at again next round without a ring (its recognisers have not
    /// finished yet).
    private func drain(_ call: LiveCall, _ line: inout RecordWriter, revisit: inout Bool) -> Bool {
        guard !call.removed.load(ordering: .relaxed) else { return false }
        var worked = false
        if call.pendingStart.exchange(false, ordering: .acquiring) {
            let s = call.source
            emit(CallStartRecord(call: call.id, source: s.name, roles: call.roles, sampleRate: s.sampleRate, channels: s.channelCount),
                 route: RecordRoute(type: "call_start", call: call.id), &line)
            worked = true
        }
        let finished = call.ticket.isFinished
        let recorder = call.recorder.value
        for u in call.takeNewText() { recorder.add(u) }
        // Most rounds find most calls with nothing new: leave them after these few loads.
        if call.ticket.outputs.count > 0 {
            let wantsFrames = sink.wantsFrames
            let frameRoute = RecordRoute.frame(call: call.id)
            while let output = call.ticket.outputs.pop() {
                worked = true
                guard call.request.consent else { continue }
                if case .gap(let start, let end) = output {
                    emit(GapRecord.samples(call: call.id, channel: nil, start: start, end: end),
                         route: RecordRoute(type: "gap", call: call.id), &line)
                    continue
                }
                recorder.take(output, frames: wantsFrames, writeFrame: { c, f in
                    emit(route: frameRoute, &line) { recorder.builder.writeFrame(channel: c, f, to: &$0) }
                }, emit: { record in
                    emit(route: RecordRoute(type: record.type, call: call.id, kind: record.kind), &line) {
                        record.write(to: &$0)
                    }
                })
            }
        }
        guard finished else { return worked }
        // The recognisers' last utterances join the call before it ends; until then look again next round.
        guard call.recognitionEnded() else { revisit = true; return worked }
        let reason = call.sink.endReason ?? .stopped
        // The capture's reasons are spelt as call_end spells them; a stop the shutdown asked for says so.
        var endReason = CallEndReason(rawValue: reason.recordReason)!
        if shuttingDown.load(ordering: .acquiring), endReason == .stopped { endReason = .shutdown }
        emit(CallEndRecord(call: call.id, reason: endReason, message: reason.message, t: call.analysedSeconds),
             route: RecordRoute(type: "call_end", call: call.id), &line)
        // Published before the call leaves the table: whoever sees it gone has been handed its last record.
        flush(&line)
        endedFrames.add(call.ticket.framesAnalysed, ordering: .relaxed)
        endedDrops.add(call.ticket.rings.droppedFrames, ordering: .relaxed)
        endedXruns.add(call.source.counters.xrunsRecovered, ordering: .relaxed)
        ended.add(1, ordering: .relaxed)
        remove(call)
        return true
    }

    private func remove(_ call: LiveCall) {
        call.removed.store(true, ordering: .relaxed)
        // Call ids are unique in the table, so a reader of this id is this call.
        standardInput.withLock { if case .reading(call.id) = $0 { $0 = .read(call: call.id) } }
        if let bell = call.recordBell { recordReady.release(bell) }
        calls.withLock {
            _ = $0.removeValue(forKey: call.id)
            callsChanged.add(1, ordering: .releasing)
        }
    }

    private func emit(_ record: some NDJSONRecord, route: RecordRoute, _ writer: inout RecordWriter) {
        emit(route: route, &writer) { record.write(to: &$0) }
    }

    /// Encodes one line with `write` into the record thread's reused buffer and adds it to the batch.
    private func emit(route: RecordRoute, _ writer: inout RecordWriter, _ write: (inout JSONLine) -> Void) {
        writer.line.begin()
        write(&writer.line)
        writer.batch.append(ending: &writer.line, route: route)
        // A call at full replay speed keeps its queue full while it is drained: batches stay small next to a
        // subscriber's queue (1 MiB), so one batch never costs a reading subscriber a gap.
        if writer.batch.bytes.count >= 32 << 10 { flush(&writer) }
    }

    /// Hands the batch to the sink.
    private func flush(_ writer: inout RecordWriter) {
        guard !writer.batch.isEmpty else { return }
        sink.publish(writer.batch)
        published.add(writer.batch.lines.count, ordering: .relaxed)
        writer.batch.removeAll()
    }
}

/// The record thread's reused buffers: one line being encoded and the batch it joins.
struct RecordWriter {
    var line = JSONLine()
    var batch = LineBatch()
}
