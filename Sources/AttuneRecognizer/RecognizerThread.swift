import AttuneAudio
import AttuneText
import Foundation
import Synchronization

/// Runs a ``SpeechRecognizer`` on a thread of its own, fed from a lock-free ``SPSCRingBuffer`` that the DSP side
/// fills (``CallSession``'s tap) and never waits on: when the recogniser falls behind, the ring drops audio,
/// counted in the ring's `overflowCount` and seen here as a gap, so later words keep their times.
///
/// Utterances go to `deliver` on this thread as they complete. ``requestStop()`` asks the thread to read what is
/// left in the ring, decode the open utterance and exit; ``join()`` waits for that.
public final class RecognizerThread: Sendable {
    /// The ring this thread consumes (its only consumer).
    public let ring: SPSCRingBuffer
    public let channel: Int
    private let stopRequested = Atomic<Bool>(false)
    private let exited = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let delivered = Atomic<Int>(0)
    private let failureText = Mutex<RecognizerError?>(nil)

    /// How long the thread sleeps when the ring is empty: text is wanted within a second, and 20 ms of sleep
    /// costs nothing against a decode.
    static let idleNanoseconds = 20_000_000
    /// The recogniser thread's nice value: below the DSP path, which must keep up with real time.
    static let niceness: Int32 = 10
    /// Samples read from the ring at a time.
    static let chunk = 4096

    /// Starts the thread. `recognizer` moves to it (`sending`: the caller keeps no reference).
    public init(_ recognizer: sending SpeechRecognizer, ring: SPSCRingBuffer,
                deliver: @escaping @Sendable (TranscriptUtterance) -> Void) {
        self.ring = ring
        channel = recognizer.channel
        let moved = Handoff(recognizer)
        let thread = Thread { [self] in
            // Linux nice values are per thread (who 0 is the calling thread): decoding yields the cores to the
            // capture and DSP threads when the machine is short of CPU, instead of competing with them as an equal.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness)
            run(moved.take()) { u in
                deliver(u)
                delivered.add(1, ordering: .relaxed)
            }
            exited.store(true, ordering: .releasing)
            done.signal()
        }
        thread.name = "attune-asr"
        thread.start()
    }

    /// Samples the recogniser never heard because its ring was full.
    public var lostSamples: Int { ring.overflowCount }

    /// Utterances delivered so far.
    public var utterances: Int { delivered.load(ordering: .relaxed) }

    /// The error that stopped recognition early, if any (the call goes on without text).
    public var failure: RecognizerError? { failureText.withLock { $0 } }

    /// Asks the thread to finish: it drains the ring, decodes the open utterance, delivers it and exits. Returns at
    /// once. Call only once the ring's producer has stopped writing, or the tail is lost.
    public func requestStop() { stopRequested.store(true, ordering: .releasing) }

    /// Whether the thread has exited (after ``requestStop()``, or on an error).
    public var hasExited: Bool { exited.load(ordering: .acquiring) }

    /// Asks the thread to finish and waits until it has.
    public func join() {
        requestStop()
        done.wait()
        done.signal()   // so a second join returns too
    }

    private func run(_ recognizer: SpeechRecognizer, _ deliver: (TranscriptUtterance) -> Void) {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: Self.chunk)
        defer { buffer.deallocate() }
        var idle = timespec(tv_sec: 0, tv_nsec: Self.idleNanoseconds)
        do throws(RecognizerError) {
            while true {
                // Read the flag before the ring: once the producer has stopped, a stop seen here means everything
                // it wrote is already visible, so an empty ring below really is the end.
                let stopping = stopRequested.load(ordering: .acquiring)
                let n = ring.read(into: buffer)
                if n > 0 {
                    for u in try recognizer.process(UnsafeBufferPointer(rebasing: buffer[0..<n])) { deliver(u) }
                    continue
                }
                let gap = ring.takeGap()
                if gap > 0 {
                    for u in try recognizer.skip(gap) { deliver(u) }
                    continue
                }
                if stopping { break }
                nanosleep(&idle, nil)
            }
            for u in try recognizer.finish() { deliver(u) }
        } catch {
            failureText.withLock { $0 = error }
        }
    }
}

/// Carries the recogniser into its thread's closure, which must be `@Sendable`. Safe: it arrives as a `sending`
/// value, so nothing else refers to it, and only the thread takes it out.
private final class Handoff: @unchecked Sendable {
    private var value: SpeechRecognizer?
    init(_ value: sending SpeechRecognizer) { self.value = value }
    func take() -> SpeechRecognizer {
        defer { value = nil }
        return value!
    }
}
