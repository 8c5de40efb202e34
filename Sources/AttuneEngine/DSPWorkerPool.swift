import AttuneAudio
import AttuneDSP
import CALSA
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a call's worker and the rest of the daemon share: the session's output queue and the call's progress.
/// Everything in it is an atomic or a lock-free queue, so either side reads it without waiting on the other.
public final class CallTicket: Sendable {
    /// The session's features, drained by the record builder.
    public let outputs: SPSCQueue<SessionOutput>
    /// The call's rings, written by its capture thread.
    public let rings: CallRings
    /// The worker the call is pinned to.
    public let worker: Int
    /// Rung by the worker after it adds to ``outputs`` or finishes the session, for whoever drains them.
    let notify: Doorbell?
    private let finishedFlag = Atomic<Bool>(false)
    private let analysed = Atomic<Int>(0)

    init(outputs: SPSCQueue<SessionOutput>, rings: CallRings, worker: Int, notify: Doorbell?) {
        self.outputs = outputs
        self.rings = rings
        self.worker = worker
        self.notify = notify
    }

    /// Whether the worker has finished the session (the summary is in ``outputs``, nothing more will come).
    public var isFinished: Bool { finishedFlag.load(ordering: .acquiring) }
    /// Input frames analysed so far, gaps included.
    public var framesAnalysed: Int { analysed.load(ordering: .relaxed) }

    fileprivate func add(_ frames: Int) { analysed.add(frames, ordering: .relaxed) }
    fileprivate func markFinished() { finishedFlag.store(true, ordering: .releasing) }
}

/// A fixed pool of DSP worker threads (default: one per core). Each call is pinned to one worker, so its
/// frames stay in order; a worker visits the calls whose rings rang its ``ReadySet`` (new audio, a gap, the
/// end), pulling each one's rings into its session, and comes back to a call at once only when it stopped short.
///
/// Locks are taken only when a call joins or leaves a worker, never per block: the per-block path (ring
/// reads, analysis, output queue) is lock-free and allocation-free. Sessions enter through
/// ``adopt(_:rings:)`` as `sending` values, so Swift 6 proves the caller keeps no reference; finished
/// sessions come back through ``reapFinished()``, to be released off the workers (releasing frees the
/// session's buffers, a heap call that may lock).
public final class DSPWorkerPool: Sendable {
    /// How long an idle worker sleeps before looking again: short against the 50 ms lag budget, long
    /// enough that idle workers cost nothing.
    public static let idleNanoseconds = 2_000_000

    private let workers: [WorkerShared]
    private let nextWorker = Atomic<Int>(0)
    private let finished = LockedValue<[Transit]>([])

    /// Starts `count` worker threads, each able to serve `maximumCalls` calls by doorbell (more are polled).
    public init(workers count: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), maximumCalls: Int = 4096) {
        workers = (0..<max(1, count)).map { WorkerShared(index: $0, capacity: maximumCalls) }
        for w in workers { w.start(pool: self) }
    }

    public var workerCount: Int { workers.count }

    /// Pins `session` to the least-loaded worker and starts pulling `rings` into it. The worker rings `notify`
    /// whenever it has added outputs or finished the session.
    public func adopt(_ session: sending CallSession, rings: CallRings, notify: Doorbell? = nil) -> CallTicket {
        var best = 0
        for (i, w) in workers.enumerated() where w.load < workers[best].load { best = i }
        let ticket = CallTicket(outputs: session.outputs, rings: rings, worker: best, notify: notify)
        let doorbell = workers[best].ready.claim()
        workers[best].hand(session, ticket, doorbell)
        if let doorbell { rings.connect(doorbell) }
        return ticket
    }

    /// Sessions their workers have finished, for the caller to release.
    public func reapFinished() -> [CallSession] {
        let transits = finished.withLock { sessions in
            let out = sessions
            sessions.removeAll(keepingCapacity: true)
            return out
        }
        return transits.map(\.session)
    }

    fileprivate func retire(_ transit: Transit) {
        finished.withLock { $0.append(transit) }
    }

    /// Calls pinned to each worker now.
    public var loads: [Int] { workers.map(\.load) }

    /// Stops every worker after its current pass and waits for them; calls still running are abandoned
    /// (stop their sources and let them finish first for a clean end).
    public func shutdown() {
        for w in workers { w.stop() }
        for w in workers { w.join() }
    }
}

/// A session in transit between threads. Unchecked because the region checker cannot follow a value into a
/// mutex-guarded array; safe because every way in takes the session as `sending` (the sender provably keeps
/// no reference) and every way out hands it to exactly one thread.
private struct Transit: @unchecked Sendable {
    var session: CallSession
    var ticket: CallTicket?
    var doorbell: Doorbell?
}

/// The part of a worker other threads touch: its inbox and counters.
private final class WorkerShared: Sendable {
    let index: Int
    /// The worker's calls that have something new; a call without a slot (more calls than capacity) is polled.
    let ready: ReadySet
    private let inbox = LockedValue<[Transit]>([])
    private let hasMail = Atomic<Bool>(false)
    private let calls = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let exited = Atomic<Bool>(false)

    init(index: Int, capacity: Int) {
        self.index = index
        ready = ReadySet(capacity: capacity)
    }

    var load: Int { calls.load(ordering: .relaxed) }

    func hand(_ session: sending CallSession, _ ticket: CallTicket, _ doorbell: Doorbell?) {
        calls.add(1, ordering: .relaxed)
        let transit = Transit(session: session, ticket: ticket, doorbell: doorbell)
        inbox.withLock { $0.append(transit) }
        hasMail.store(true, ordering: .releasing)
    }

    func stop() { stopping.store(true, ordering: .releasing) }
    func join() { while !exited.load(ordering: .acquiring) { usleep(1000) } }

    func start(pool: DSPWorkerPool) {
        let name = "attune-dsp-\(index)"
        let thread = Thread { [self] in
            // Foundation's `Thread.name` does not reach the kernel on Linux when set before `start`, so top -H,
            // ps -L and Tools/load.py's per-thread CPU saw the workers as anonymous dispatch threads.
            _ = attune_set_thread_name(name)
            run(pool: pool)
            exited.store(true, ordering: .releasing)
        }
        thread.name = name
        thread.start()
    }

    /// The worker thread's loop. Its arrays are the thread's own: no other thread sees them. `due[i]` says
    /// call `i` is to be visited this pass: it rang, it is new, it has no doorbell, or it stopped short last time.
    private func run(pool: DSPWorkerPool) {
        var sessions: [CallSession] = []
        var tickets: [CallTicket] = []
        var bells: [Doorbell?] = []
        var due: [Bool] = []
        /// Index in the arrays above of the call holding each doorbell slot (-1: none).
        var bySlot = [Int](repeating: -1, count: ready.capacity)
        sessions.reserveCapacity(1024)
        tickets.reserveCapacity(1024)
        bells.reserveCapacity(1024)
        due.reserveCapacity(1024)
        var idle = timespec(tv_sec: 0, tv_nsec: DSPWorkerPool.idleNanoseconds)
        while !stopping.load(ordering: .acquiring) {
            if hasMail.load(ordering: .acquiring) {
                hasMail.store(false, ordering: .relaxed)
                let arrivals = inbox.withLock { a in let all = a; a.removeAll(keepingCapacity: true); return all }
                for a in arrivals {
                    if let bell = a.doorbell { bySlot[bell.slot] = sessions.count }
                    sessions.append(a.session)
                    tickets.append(a.ticket!)
                    bells.append(a.doorbell)
                    due.append(true)
                }
            }
            ready.take { slot in
                let i = bySlot[slot]
                if i >= 0 { due[i] = true }
            }
            var worked = false
            var i = 0
            while i < sessions.count {
                guard due[i] || bells[i] == nil else { i += 1; continue }
                due[i] = false
                switch sessions[i].pull(from: tickets[i].rings) {
                case .analysed(let n):
                    tickets[i].add(n)
                    tickets[i].notify?.ring()
                    worked = true
                    due[i] = sessions[i].stoppedShort
                    i += 1
                case .idle:
                    // No room for outputs until the record thread drains them: look again after the idle pause.
                    due[i] = sessions[i].stoppedShort
                    i += 1
                case .ended:
                    sessions[i].finish()
                    calls.subtract(1, ordering: .relaxed)
                    let last = sessions.count - 1
                    if let moved = bells[last] { bySlot[moved.slot] = i }
                    if let gone = bells[i] { bySlot[gone.slot] = -1 }
                    tickets.swapAt(i, last)
                    sessions.swapAt(i, last)
                    bells.swapAt(i, last)
                    due.swapAt(i, last)
                    // The session is reapable before the ticket says finished, so whoever sees the flag
                    // finds the session to release.
                    pool.retire(Transit(session: sessions.removeLast()))
                    let ticket = tickets.removeLast()
                    ticket.markFinished()
                    ticket.notify?.ring()
                    if let gone = bells.removeLast() { ready.release(gone) }
                    due.removeLast()
                    worked = true
                }
            }
            if !worked { nanosleep(&idle, nil) }
        }
    }
}
