import AttuneAudio
import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneRecognizer
import AttuneText
import CALSA
import Foundation
import Synchronization

/// A value only the record thread touches, carried inside a `Sendable` call object: the record thread creates
/// nothing else that reaches it, so no lock is needed (the call table's lock orders its publication).
final class RecordThreadOnly<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// One running call: what the control side, the record thread and the capture thread share.
final class LiveCall: Sendable {
    let request: LiveCallRequest
    let source: any CaptureSource
    let roles: [Role]
    let ticket: CallTicket
    let sink: RingSink
    /// The call's records and events; the record thread alone touches it.
    let recorder: RecordThreadOnly<CallRecorder>
    /// The built-in recogniser's threads, one per recognised channel; empty without `asr`.
    let recognizers: [RecognizerThread]
    let startedAt = Date()
    /// Set when the call is registered; the record thread publishes `call_start` first thing after.
    let pendingStart = Atomic<Bool>(false)
    /// Rung when the record thread has something to do for this call; nil if no slot was free (then it is polled).
    let recordBell: Doorbell?
    /// Set once the call has ended and left the table: a late ring or a second visit in the same round does nothing.
    let removed = Atomic<Bool>(false)
    /// Text (partial and final) that arrived since the record thread last looked, for its ``CallRecorder``.
    private let newText = LockedValue<[TranscriptUtterance]>([])
    /// Set after text joins ``newText``, so the record thread takes the lock only when there is some.
    private let textWaiting = Atomic<Bool>(false)

    var id: String { request.call }

    init(request: LiveCallRequest, source: any CaptureSource, roles: [Role], ticket: CallTicket, sink: RingSink,
         recorder: CallRecorder, recognizers: [RecognizerThread] = [], recordBell: Doorbell?) {
        self.request = request; self.source = source; self.roles = roles; self.recordBell = recordBell
        self.ticket = ticket; self.sink = sink; self.recorder = RecordThreadOnly(recorder); self.recognizers = recognizers
    }

    /// Hands the text that arrived since the last call to the record thread.
    func takeNewText() -> [TranscriptUtterance] {
        guard textWaiting.exchange(false, ordering: .acquiring) else { return [] }
        return newText.withLock { queue in
            defer { queue.removeAll() }
            return queue
        }
    }

    /// Asks the recognisers to finish (the session is finished, so their rings get no more audio) and tells whether
    /// all have, joining them then. Never waits: the record thread serves other calls meanwhile.
    func recognitionEnded() -> Bool {
        for r in recognizers { r.requestStop() }
        guard recognizers.allSatisfy(\.hasExited) else { return false }
        for r in recognizers { r.join() }
        return true
    }

    /// Queues text (an `asr` message, a recogniser's result) for the record thread, whose ``CallRecorder/add(_:)``
    /// decides what of it segments show.
    func addTranscript(_ u: TranscriptUtterance) {
        // Bounded: a flood of text for one call cannot grow without limit while the record thread is busy.
        newText.withLock { if $0.count < CallRecorder.keptUtterances { $0.append(u) } }
        textWaiting.store(true, ordering: .releasing)
        recordBell?.ring()
    }

    /// Seconds of the call's audio analysed so far, gaps included: the `t` of its `call_end`.
    var analysedSeconds: Double { Double(ticket.framesAnalysed) / Double(source.sampleRate) }

    var info: LiveCallInfo {
        let analysed = analysedSeconds
        let captured = Double(source.counters.framesCaptured + source.counters.framesLost) / Double(source.sampleRate)
        return LiveCallInfo(call: id, source: source.name, roles: roles, sampleRate: source.sampleRate,
                            channels: source.channelCount, worker: ticket.worker,
                            uptimeSeconds: Date().timeIntervalSince(startedAt), analysedSeconds: analysed,
                            lagSeconds: max(0, captured - analysed), droppedFrames: ticket.rings.droppedFrames,
                            xruns: source.counters.xrunsRecovered, consent: request.consent,
                            asrUtterances: recognizers.reduce(0) { $0 + $1.utterances },
                            asrLostSamples: recognizers.reduce(0) { $0 + $1.lostSamples })
    }
}
