import AttuneAudio
import AttuneTestSupport
import CAllocCounter
import CSndFile
import Foundation
import Testing

/// The per-block paths of the audio layer (resampling, raw decoding, file reads, the ring) must not touch the
/// heap once warmed up. The C allocator is interposed for the test process and counted per thread.
@Suite("Audio allocation-free paths")
struct AudioAllocationTests {
    /// Positive control: the counter is live in this test bundle.
    @Test func counterSeesAnAllocation() {
        attune_alloc_counter_start()
        let array = [Float](repeating: 1, count: 4096)
        let allocations = attune_alloc_counter_stop()
        #expect(array.count == 4096)
        #expect(allocations >= 1)
    }

    /// `init` grows libsoxr's buffers, so a new converter's very first block, every end-of-stream flush and the
    /// streams after it, in blocks of any size, run without touching the heap. (`warm` takes the process-wide
    /// first-use costs of the code below, such as the debug build's generic metadata for the slices, once.)
    @Test(arguments: [44100, 48000, 32000, 22050, 11025])
    func resamplerProcessDoesNotAllocate(_ rate: Int) throws {
        let warm = try Resampler(from: rate, to: 16000)
        let r = try Resampler(from: rate, to: 16000)
        let input = ResamplerTests.sine(1000, amplitude: 0.5, rate: rate, count: 4096 * 8)
        let blocks = [4096, 1000, 1, 37, 8192, 3]
        var produced = 0, expected = 0, allocations = 0
        input.withUnsafeBufferPointer { all in
            warm.process(UnsafeBufferPointer(rebasing: all[0..<4096]), end: true) { produced += $0.count }
            produced = 0
            for block in blocks {
                // Counted around the stream only: the test's own loop bookkeeping is not the resampler's.
                attune_alloc_counter_start()
                var i = 0
                while i < all.count {
                    let n = min(block, all.count - i)
                    r.process(UnsafeBufferPointer(rebasing: all[i..<(i + n)]), end: i + n == all.count) { produced += $0.count }
                    i += n
                }
                allocations += Int(attune_alloc_counter_stop())
                expected += (all.count * 16000 + rate / 2) / rate
            }
        }
        #expect(allocations == 0)
        #expect(r.failure == nil)
        // Every stream came out whole, to the sample.
        #expect(produced == expected)
    }

    @Test func rawReaderReadDoesNotAllocate() throws {
        let dir = TempDir()
        let path = dir.file("x.raw")
        try Data(repeating: 0x55, count: 4 * 4096 * 6).write(to: URL(fileURLWithPath: path))
        let reader = try RawPCMReader(path: path, format: RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 2))
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4096 * 2)
        defer { buffer.deallocate() }
        _ = try reader.read(into: buffer)
        attune_alloc_counter_start()
        var frames = 0
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            frames += n
        }
        let allocations = attune_alloc_counter_stop()
        #expect(allocations == 0)
        #expect(frames == 4096 * 5)
    }

    @Test(arguments: [Int32(SF_FORMAT_WAV | SF_FORMAT_ULAW), Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)])
    func soundFileReadDoesNotAllocate(_ format: Int32) throws {
        let dir = TempDir()
        let path = dir.file(format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_FLAC) ? "x.flac" : "x.wav")
        try writeSoundFile(path, format: format, rate: 8000, channels: 2, samples: testSignal(frames: 4096 * 6, channels: 2, rate: 8000))
        let reader = try SoundFileReader(path: path)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4096 * 2)
        defer { buffer.deallocate() }
        _ = try reader.read(into: buffer)
        attune_alloc_counter_start()
        var frames = 0
        for _ in 0..<4 { frames += try reader.read(into: buffer) }
        let allocations = attune_alloc_counter_stop()
        #expect(allocations == 0)
        #expect(frames == 4096 * 4)
    }

    @Test func ringWriteAndReadDoNotAllocate() {
        let ring = SPSCRingBuffer(minimumCapacity: 4096)
        let block = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1000)
        defer { block.deallocate() }
        block.initialize(repeating: 0.25)
        attune_alloc_counter_start()
        for _ in 0..<100 {
            ring.write(UnsafeBufferPointer(block))
            ring.read(into: block)
        }
        ring.write(UnsafeBufferPointer(block))
        _ = ring.overflowCount
        let allocations = attune_alloc_counter_stop()
        #expect(allocations == 0)
    }
}
