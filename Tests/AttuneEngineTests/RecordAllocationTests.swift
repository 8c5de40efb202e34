import AttuneDSP
import AttuneEngine
import AttuneEvents
import AttuneFusion
import CAllocCounter
import Foundation
import Testing

/// The record thread's per-frame work for a call with emotions on both channels — the emotion layer taking a frame
/// and the frame's record written as JSON — touches the heap not once in steady state: at 1,000 calls that is
/// 200,000 frames a second on one thread.
@Suite("Allocation-free record path")
struct RecordAllocationTests {
    /// Two callers taking turns (never together, never silent long enough for a conversation event), with a voice
    /// steady enough that no emotion event starts: what remains is the per-frame cost alone.
    static func frame(_ index: Int, channel: Int) -> FrameFeatures {
        let turn = (index / 250) % 2   // 2.5 s turns
        let pause = index % 250 >= 230  // a breath at the end of each turn
        guard turn == channel, !pause else { return FrameFeatures(index: index, energyDB: -70, bandsDB: SIMD8(repeating: -80)) }
        // Unvoiced frames now and then: they leave the voice window's order from F0 and HNR and come back.
        let voiced = index % 7 != 0
        let f0 = (channel == 0 ? 120.0 : 210.0) * pow(2, 1.5 * sin(Double(index) * 0.05) / 12)
        return FrameFeatures(index: index, f0: voiced ? Float(f0) : 0, voicing: voiced ? 0.9 : 0.2,
                             energyDB: -25 + Float(index % 5), bandsDB: SIMD8(repeating: -30), speech: true,
                             balanceDB: Float(-4 + Double(index % 9) / 4), hnrDB: voiced ? 15 : nil)
    }

    @Test("emotion layer and frame records allocate nothing per frame")
    func steadyState() {
        let hop = 0.01
        let fusion = CallFusion(call: "c-alloc", roles: [.customer, .customer], channels: 2, hopSeconds: hop, text: nil)
        // The frame records, built (as `analyze` does) and written straight from the features (as the record thread does).
        let builder = RecordBuilder(options: AnalysisOptions(call: "c-alloc", frames: true, roles: [.customer, .customer]),
                                    channels: 2, hopSeconds: hop)
        var line = JSONLine()
        var events = 0
        var bytes = 0
        func run(_ frames: Range<Int>, fusing: Bool = true, writing: Bool = true) {
            for i in frames {
                for c in 0..<2 {
                    let f = Self.frame(i, channel: c)
                    if fusing { fusion.observe(frame: f, channel: c) { _ in events += 1 } }
                    guard writing else { continue }
                    // Never nil: the builder wants frames.
                    let record = builder.record(for: .frame(channel: c, f))!
                    line.begin()
                    record.write(to: &line)
                    line.end()
                    bytes += line.bytes.count
                    // And written without a record, as the daemon's record thread does.
                    line.begin()
                    builder.writeFrame(channel: c, f, to: &line)
                    line.end()
                    bytes += line.bytes.count
                }
            }
        }
        // 60 s: both baselines ready (15 s of speech each) and forgetting once a second.
        run(0..<6_000)
        // Each counted path once before counting, for the same reason as below: the optimiser may give each call its
        // own copy of `run`, and a copy's first destroy of a type fills the runtime's metadata cache.
        // (The fusion sees every frame once and in order: writing alone replays frames it has seen.)
        run(5_900..<6_000, fusing: false)
        run(6_000..<6_100, writing: false)
        // The objects live past the counters: Swift may end a value's life at its last use, and the first destroy
        // of a type in the process fills the runtime's metadata cache (a malloc). In release builds the builder's
        // arrays were destroyed right after the last counted frame, inside the count.
        let (fusing, writing) = withExtendedLifetime((fusion, builder)) { () -> (UInt64, UInt64) in
            events = 0
            attune_alloc_counter_start()
            run(6_100..<9_000, writing: false)
            let fusing = attune_alloc_counter_stop()
            bytes = 0
            attune_alloc_counter_start()
            run(9_000..<12_000, fusing: false)
            return (fusing, attune_alloc_counter_stop())
        }
        #expect(events == 0, "the steady voice must not start events, or the count measures them")
        #expect(fusing == 0, "the emotion layer: \(fusing) allocations over 30 s of two channels")
        #expect(writing == 0, "frame records: \(writing) allocations over 30 s of two channels")
        #expect(bytes > 3_000 * 2 * 100)
        #expect(line.bytes.count > 100, "the line buffer is still alive here, not destroyed inside the count")
    }
}
