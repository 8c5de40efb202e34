import AttuneAudio
import AttuneTestSupport
import CSndFile
import Foundation
import Testing

@Suite("RawPCMReader")
struct RawPCMReaderTests {
    @Test func parsesSpecs() throws {
        #expect(try RawFormat(parsing: "s16le:8000:2") == RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 2))
        #expect(try RawFormat(parsing: "MULAW:16000:1") == RawFormat(encoding: .mulaw, sampleRate: 16000, channelCount: 1))
        #expect(try RawFormat(parsing: "f32le:48000:8").bytesPerFrame == 32)
    }

    @Test(arguments: ["s16le", "s16le:8000", "s16le:8000:2:1", "s17le:8000:2", "s16le:fast:2", "s16le:8000:0",
                      "s16le:4000:1", "s16le:96000:1", "s16le:8000:9", ""])
    func badSpecsAreUsageErrorsShowingTheForm(_ spec: String) throws {
        let error = try #require(throws: AudioError.self) { try RawFormat(parsing: spec) }
        #expect(error.kind == .usage)
        #expect(error.exitCode == 64)
        #expect(error.path == "--raw")
        let showsForm = error.reason.contains("ENCODING:RATE:CHANNELS") || error.reason.contains("supported")
        #expect(showsForm, "\(error)")
    }

    /// Every encoding decodes the same bytes to the same Floats libsndfile gives for headerless data, so raw
    /// stdin and the equivalent file analyse identically.
    @Test(arguments: RawFormat.Encoding.allCases)
    func decodesLikeLibsndfile(_ encoding: RawFormat.Encoding) throws {
        let dir = TempDir()
        let path = dir.file("raw.bin")
        // Every byte value in every position, then a deterministic pseudo-random tail.
        var bytes = [UInt8]()
        for b in 0..<256 { bytes.append(contentsOf: [UInt8](repeating: UInt8(b), count: encoding.width)) }
        var x: UInt32 = 12345
        for _ in 0..<(encoding.width * 2 * 3000) {
            x = x &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: x >> 16))
        }
        bytes.removeLast(bytes.count % (encoding.width * 2))
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let mine = try readAll(RawPCMReader(path: path, format: RawFormat(encoding: encoding, sampleRate: 8000, channelCount: 2)), block: 333)

        let subtype: Int32 = switch encoding {
        case .s16le: Int32(SF_FORMAT_PCM_16)
        case .s24le: Int32(SF_FORMAT_PCM_24)
        case .s32le: Int32(SF_FORMAT_PCM_32)
        case .f32le: Int32(SF_FORMAT_FLOAT)
        case .u8: Int32(SF_FORMAT_PCM_U8)
        case .mulaw: Int32(SF_FORMAT_ULAW)
        case .alaw: Int32(SF_FORMAT_ALAW)
        }
        var info = SF_INFO()
        info.samplerate = 8000
        info.channels = 2
        info.format = Int32(SF_FORMAT_RAW) | subtype | Int32(SF_ENDIAN_LITTLE)
        let h = try #require(sf_open(path, Int32(SFM_READ), &info))
        defer { sf_close(h) }
        var theirs = [Float](repeating: 0, count: bytes.count / encoding.width)
        let n = theirs.withUnsafeMutableBufferPointer { sf_readf_float(h, $0.baseAddress, sf_count_t($0.count / 2)) }
        #expect(Int(n) * 2 == theirs.count)
        #expect(mine.count == theirs.count)
        var differ = 0
        for i in 0..<min(mine.count, theirs.count) {
            let a = mine[i], b = theirs[i]
            if a.isNaN && b.isNaN { continue }
            if a != b { differ += 1 }
        }
        #expect(differ == 0, "\(differ) samples differ from libsndfile for \(encoding)")
    }

    @Test func reassemblesFramesSplitAcrossTinyPipeWrites() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }
        // 1000 stereo s16 frames counting up, plus 3 stray bytes of an incomplete last frame.
        var bytes = [UInt8]()
        for i in 0..<1000 {
            for c in 0..<2 {
                let v = UInt16(bitPattern: Int16(i * 2 + c))
                bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8))
            }
        }
        bytes.append(contentsOf: [1, 2, 3])
        let payload = bytes
        let writer = Thread {
            var offset = 0
            var size = 1
            while offset < payload.count {
                let n = min(size, payload.count - offset)
                _ = payload.withUnsafeBytes { write(writeEnd, $0.baseAddress! + offset, n) }
                offset += n
                size = size % 7 + 1
            }
            close(writeEnd)
        }
        writer.start()
        let reader = try RawPCMReader(fileDescriptor: readEnd, name: "-", format: RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 2))
        let samples = try readAll(reader, block: 64)
        #expect(samples.count == 2000)
        #expect(samples == (0..<2000).map { Float($0) / 32768 })
        #expect(reader.warnings == ["-: dropped an incomplete frame of 3 bytes at the end (s16le:8000:2 frames are 4 bytes)"])
    }

    @Test func missingRawFileIsNoInput() throws {
        let error = try #require(throws: AudioError.self) {
            try RawPCMReader(path: "/nonexistent/x.raw", format: RawFormat(encoding: .s16le, sampleRate: 8000, channelCount: 1))
        }
        #expect(error.exitCode == 66)
    }

    @Test func emptyStreamIsZeroFrames() throws {
        let dir = TempDir()
        let path = dir.file("empty.raw")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let reader = try RawPCMReader(path: path, format: RawFormat(encoding: .u8, sampleRate: 8000, channelCount: 1))
        #expect(try readAll(reader).isEmpty)
        #expect(reader.warnings.isEmpty)
    }
}

/// Signals interrupting a blocked read(2) (EINTR, since the handler is installed without SA_RESTART) must be
/// retried, not reported as errors or taken for the end of the stream.
@Suite("RawPCMReader EINTR")
struct RawPCMReaderInterruptTests {
    @Test func readRetriesAfterSignals() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var previous = sigaction()
        #expect(sigaction(SIGUSR2, &action, &previous) == 0)
        defer { sigaction(SIGUSR2, &previous, nil) }

        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }
        // Handed to the consumer thread and used only there.
        final class Shared: @unchecked Sendable {
            let reader: RawPCMReader
            init(_ reader: RawPCMReader) { self.reader = reader }
            var thread = pthread_t()
            var samples: [Float] = []
            var error: (any Error)?
            let started = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
        }
        let shared = Shared(try RawPCMReader(fileDescriptor: readEnd, name: "-", format: RawFormat(encoding: .u8, sampleRate: 8000, channelCount: 1)))
        let consumer = Thread {
            // Threads started from the test's (dispatch) thread inherit its blocked signal mask.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            shared.thread = pthread_self()
            shared.started.signal()
            do { shared.samples = try readAll(shared.reader, block: 16) } catch { shared.error = error }
            shared.done.signal()
        }
        consumer.start()
        shared.started.wait()
        // Interrupt the reader while it waits on the empty pipe, then between small writes.
        for round in 0..<20 {
            usleep(2000)
            pthread_kill(shared.thread, SIGUSR2)
            usleep(2000)
            var byte = UInt8(128 + round)
            _ = write(writeEnd, &byte, 1)
        }
        close(writeEnd)
        #expect(shared.done.wait(timeout: .now() + 10) == .success)
        #expect(shared.error == nil, "\(String(describing: shared.error))")
        #expect(shared.samples == (0..<20).map { Float($0) / 128 })
    }
}
