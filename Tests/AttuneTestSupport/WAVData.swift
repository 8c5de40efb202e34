import Foundation

/// A canonical WAV file: 16-bit PCM (`float: false`) or 32-bit float, interleaved `samples`.
public func wavData(rate: Int, channels: Int, float: Bool = false, samples: [Float]) -> Data {
    var d = Data()
    func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    let width = float ? 4 : 2
    let dataBytes = samples.count * width
    d.append(contentsOf: Array("RIFF".utf8)); u32(36 + dataBytes)
    d.append(contentsOf: Array("WAVEfmt ".utf8)); u32(16)
    u16(float ? 3 : 1); u16(channels); u32(rate); u32(rate * channels * width); u16(channels * width); u16(width * 8)
    d.append(contentsOf: Array("data".utf8)); u32(dataBytes)
    d.append(pcmBytes(samples, float: float))
    return d
}

/// Headerless little-endian s16 (or f32) bytes of `samples`.
public func pcmBytes(_ samples: [Float], float: Bool = false) -> Data {
    var d = Data(capacity: samples.count * 4)
    for x in samples {
        if float {
            withUnsafeBytes(of: x.bitPattern.littleEndian) { d.append(contentsOf: $0) }
        } else {
            let v = Int16(max(-32768, min(32767, (x * 32768).rounded())))
            withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
        }
    }
    return d
}

