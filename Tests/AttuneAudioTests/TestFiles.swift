import AttuneAudio
import AttuneTestSupport
import CSndFile
import Foundation

/// Deterministic test signal: channel c is a sine at 220·(c+1) Hz with amplitude 0.5.
func testSignal(frames: Int, channels: Int, rate: Int) -> [Float] {
    var out = [Float](repeating: 0, count: frames * channels)
    for i in 0..<frames {
        for c in 0..<channels {
            out[i * channels + c] = 0.5 * Float(sin(2 * Double.pi * 220 * Double(c + 1) * Double(i) / Double(rate)))
        }
    }
    return out
}

/// Writes interleaved `samples` with libsndfile itself in `format` (SF_FORMAT_* major | subtype).
func writeSoundFile(_ path: String, format: Int32, rate: Int, channels: Int, samples: [Float]) throws {
    var info = SF_INFO()
    info.samplerate = Int32(rate)
    info.channels = Int32(channels)
    info.format = format
    guard let h = sf_open(path, Int32(SFM_WRITE), &info) else {
        throw TestFailure("sf_open(write) \(path): \(String(cString: sf_strerror(nil)))")
    }
    defer { sf_close(h) }
    let frames = samples.count / channels
    let n = samples.withUnsafeBufferPointer { sf_writef_float(h, $0.baseAddress, sf_count_t(frames)) }
    guard n == frames else { throw TestFailure("sf_writef_float \(path): wrote \(n) of \(frames)") }
}

/// Reads a whole source through its streaming interface, `block` frames at a time.
func readAll(_ source: some AudioSource, block: Int = 1000) throws -> [Float] {
    var out: [Float] = []
    var buffer = [Float](repeating: 0, count: block * source.channelCount)
    while true {
        let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
        if n == 0 { break }
        out.append(contentsOf: buffer[0..<(n * source.channelCount)])
    }
    return out
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
