import AttuneAudio
import Foundation
import Testing

@Suite("RingBuffer")
struct RingBufferTests {
    @Test func capacityRoundsUpToPowerOfTwo() {
        #expect(SPSCRingBuffer(minimumCapacity: 1).capacity == 1)
        #expect(SPSCRingBuffer(minimumCapacity: 5).capacity == 8)
        #expect(SPSCRingBuffer(minimumCapacity: 1024).capacity == 1024)
    }

    @Test func emptyReadsNothing() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        var out = [Float](repeating: -1, count: 4)
        let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
        #expect(n == 0)
        #expect(out == [-1, -1, -1, -1])
        #expect(ring.readableCount == 0)
        #expect(ring.writableCount == 8)
    }

    @Test func wrapsAroundKeepingOrder() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        var next: Float = 0
        var expected: Float = 0
        // Odd chunk sizes walk the positions across the wrap point many times.
        for round in 0..<50 {
            let chunk = (0..<(1 + round % 7)).map { _ -> Float in defer { next += 1 }; return next }
            let written = chunk.withUnsafeBufferPointer { ring.write($0) }
            #expect(written)
            var out = [Float](repeating: 0, count: 8)
            let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
            #expect(n == chunk.count)
            for i in 0..<n {
                #expect(out[i] == expected)
                expected += 1
            }
        }
        #expect(ring.overflowCount == 0)
    }

    @Test func fullRingDropsWholeBlocksAsOneGapAndKeepsOldest() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        #expect((0..<6).map(Float.init).withUnsafeBufferPointer { ring.write($0) })
        // Does not fit: dropped whole, never half-written, and remembered as a gap.
        #expect((6..<11).map(Float.init).withUnsafeBufferPointer { ring.write($0) } == false)
        #expect(ring.overflowCount == 5)
        #expect([Float](repeating: 99, count: 4).withUnsafeBufferPointer { ring.write($0) } == false)
        #expect(ring.overflowCount == 9)
        #expect(ring.readableCount == 6)
        var out = [Float](repeating: 0, count: 16)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 6)
        #expect(Array(out[0..<6]) == (0..<6).map(Float.init))
        // The two dropped blocks surface as one gap, once the next write carries it.
        #expect(ring.takeGap() == 0)
        #expect([Float(20), 21].withUnsafeBufferPointer { ring.write($0) })
        #expect(ring.gapAtReadPosition == 9)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 0, "reading stops in front of the gap")
        #expect(ring.takeGap() == 9)
        #expect(ring.takeGap() == 0)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 2)
        #expect(Array(out[0..<2]) == [20, 21])
    }

    @Test func gapAtTheEndIsPublishedOnRequest() {
        let ring = SPSCRingBuffer(minimumCapacity: 4)
        #expect([Float](repeating: 1, count: 4).withUnsafeBufferPointer { ring.write($0) })
        ring.skip(3)
        #expect(ring.publishPendingGap())
        var out = [Float](repeating: 0, count: 8)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 4)
        #expect(ring.takeGap() == 3)
    }

    @Test func discardAllReportsSamplesAndGaps() {
        let ring = SPSCRingBuffer(minimumCapacity: 4)
        #expect([Float](repeating: 1, count: 3).withUnsafeBufferPointer { ring.write($0) })
        #expect([Float](repeating: 1, count: 3).withUnsafeBufferPointer { ring.write($0) } == false)
        #expect([Float](repeating: 1, count: 1).withUnsafeBufferPointer { ring.write($0) })
        #expect(ring.discardAll() == 7)
        #expect(ring.readableCount == 0)
        #expect(ring.takeGap() == 0)
    }

    @Test func interleavedWriteTakesOneChannel() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        let frames: [Float] = [0, 10, 1, 11, 2, 12]
        #expect(frames.withUnsafeBufferPointer { ring.write(interleaved: $0.baseAddress!, channel: 1, channels: 2, frames: 3) })
        var out = [Float](repeating: 0, count: 3)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 3)
        #expect(out == [10, 11, 12])
    }

    /// Two channels fed as one call: a block that does not fit in either is dropped from both, so the gap sits
    /// at the same place in every channel, and the timeline (samples read + gaps) counts every frame offered.
    @Test func callRingsDropTheSameBlockFromEveryChannel() {
        let rings = CallRings(channels: 2, minimumFrames: 8)
        func block(_ from: Int, _ n: Int) -> [Float] { (from..<(from + n)).flatMap { [Float($0), -Float($0)] } }
        #expect(block(0, 6).withUnsafeBufferPointer { rings.write(interleaved: $0.baseAddress!, frames: 6) })
        #expect(block(6, 4).withUnsafeBufferPointer { rings.write(interleaved: $0.baseAddress!, frames: 4) } == false)
        #expect(rings.droppedFrames == 4)
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: 16), b = UnsafeMutableBufferPointer<Float>.allocate(capacity: 16)
        let ab = UnsafeMutableBufferPointer<UnsafeMutableBufferPointer<Float>>.allocate(capacity: 2)
        ab[0] = a; ab[1] = b
        defer { a.deallocate(); b.deallocate(); ab.deallocate() }
        #expect(rings.read(into: ab, maxFrames: 16) == .samples(6))
        #expect(Array(b[0..<6]) == (0..<6).map { -Float($0) })
        #expect(block(10, 2).withUnsafeBufferPointer { rings.write(interleaved: $0.baseAddress!, frames: 2) })
        #expect(rings.read(into: ab, maxFrames: 16) == .gap(4))
        #expect(rings.read(into: ab, maxFrames: 16) == .samples(2))
        #expect(Array(a[0..<2]) == [10, 11])
        #expect(rings.read(into: ab, maxFrames: 16) == .empty)
        #expect(rings.finish())
        #expect(rings.read(into: ab, maxFrames: 16) == .ended)
    }

    @Test func partialReadsLeaveTheRest() {
        let ring = SPSCRingBuffer(minimumCapacity: 16)
        _ = (0..<10).map(Float.init).withUnsafeBufferPointer { ring.write($0) }
        var out = [Float](repeating: 0, count: 4)
        #expect(out.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 4)
        #expect(out == [0, 1, 2, 3])
        #expect(ring.readableCount == 6)
        ring.discardAll()
        #expect(ring.readableCount == 0)
        #expect(ring.writableCount == 16)
    }

    /// A producer thread writes a counting sequence in uneven chunks, never more than fits; the consumer checks
    /// every sample arrives once, in order. Run under TSan by `Tools/tsan_ring.sh`.
    @Test func twoThreadsPassACountingSequence() {
        let total = 1_000_000
        let ring = SPSCRingBuffer(minimumCapacity: 1024)
        let producer = Thread {
            var chunk = [Float](repeating: 0, count: 300)
            var next = 0
            var size = 1
            while next < total {
                size = size % 293 + 1
                let n = min(size, total - next, ring.writableCount)
                if n == 0 { sched_yield(); continue }
                for i in 0..<n { chunk[i] = Float(next + i) }
                let written = chunk.withUnsafeBufferPointer { ring.write(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                precondition(written, "a block within writableCount must fit")
                next += n
            }
        }
        producer.start()
        var out = [Float](repeating: 0, count: 257)
        var expected = 0
        var mismatches = 0
        while expected < total {
            let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
            if n == 0 { sched_yield(); continue }
            for i in 0..<n where out[i] != Float(expected + i) { mismatches += 1 }
            expected += n
        }
        #expect(expected == total)
        #expect(mismatches == 0)
        #expect(ring.overflowCount == 0)
    }

    /// A capture thread writes a counting sequence to a two-channel call without ever waiting, overflowing the
    /// rings on purpose; the consumer, slower, checks that every sample it reads sits at its true time (its
    /// value) once the gaps are counted, in both channels. Run under TSan by `Tools/tsan_ring.sh`.
    @Test func overflowingCallKeepsEverySampleAtItsTime() {
        let total = 400_000
        let rings = CallRings(channels: 2, minimumFrames: 512)
        let producer = Thread {
            var block = [Float](repeating: 0, count: 2 * 200)
            var next = 0
            var size = 1
            while next < total {
                size = size % 199 + 1
                let n = min(size, total - next)
                for i in 0..<n { block[2 * i] = Float(next + i); block[2 * i + 1] = -Float(next + i) }
                block.withUnsafeBufferPointer { _ = rings.write(interleaved: $0.baseAddress!, frames: n) }
                next += n
            }
            while !rings.finish() { sched_yield() }
        }
        producer.start()
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: 64), b = UnsafeMutableBufferPointer<Float>.allocate(capacity: 64)
        let ab = UnsafeMutableBufferPointer<UnsafeMutableBufferPointer<Float>>.allocate(capacity: 2)
        ab[0] = a; ab[1] = b
        defer { a.deallocate(); b.deallocate(); ab.deallocate() }
        var time = 0, mismatches = 0, gaps = 0, reads = 0
        loop: while true {
            switch rings.read(into: ab, maxFrames: 64) {
            case .samples(let n):
                for i in 0..<n where a[i] != Float(time + i) || b[i] != -Float(time + i) { mismatches += 1 }
                time += n
                reads += 1
                // A slow consumer: spin a little so the producer outruns it now and then.
                if reads % 3 == 0 { for _ in 0..<2000 { sched_yield() } }
            case .gap(let n): time += n; gaps += 1
            case .empty: sched_yield()
            case .ended: break loop
            }
        }
        #expect(time == total, "samples read plus gaps cover the whole stream")
        #expect(mismatches == 0)
        #expect(gaps > 0, "the test must actually overflow")
        #expect(rings.droppedFrames > 0)
    }
}
