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
            #expect(written == chunk.count)
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

    @Test func fullRingCountsOverflowAndKeepsOldest() {
        let ring = SPSCRingBuffer(minimumCapacity: 8)
        let first = (0..<6).map(Float.init)
        #expect(first.withUnsafeBufferPointer { ring.write($0) } == 6)
        let second = (6..<11).map(Float.init)
        #expect(second.withUnsafeBufferPointer { ring.write($0) } == 2)
        #expect(ring.overflowCount == 3)
        #expect(ring.writableCount == 0)
        #expect(ring.readableCount == 8)
        // A full ring refuses everything and counts all of it.
        #expect([Float](repeating: 99, count: 4).withUnsafeBufferPointer { ring.write($0) } == 0)
        #expect(ring.overflowCount == 7)
        var out = [Float](repeating: 0, count: 16)
        let n = out.withUnsafeMutableBufferPointer { ring.read(into: $0) }
        #expect(n == 8)
        #expect(Array(out[0..<8]) == (0..<8).map(Float.init))
        #expect(ring.readableCount == 0)
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
                next += written
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
}
